"""Analytics: faust tables of bytes, ratio, MB/s and chunk latency per node, layer and profile."""

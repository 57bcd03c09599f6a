import { cleanup, configure } from "@testing-library/react";
import { afterEach } from "vitest";

// The shared CI machine is slow to transform lazily loaded pages (Recharts) on first use.
configure({ asyncUtilTimeout: 20_000 });
afterEach(() => cleanup());

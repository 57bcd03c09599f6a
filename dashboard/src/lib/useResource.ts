import { useCallback, useEffect, useRef, useState } from "react";
import { ApiError, messageOf } from "../api/errors";

export interface Resource<T> {
  data: T | undefined;
  error: string | null;
  /** the HTTP status of the error, if it came from the server (404: not on this server) */
  status: number | null;
  /** true while the shown data or error is not yet that of the current key */
  loading: boolean;
  reload(): void;
  setData(update: (old: T | undefined) => T | undefined): void;
}

/** Load something once per change of `key`, with loading and error states and a reload. */
export function useResource<T>(load: () => Promise<T>, key: string, enabled = true): Resource<T> {
  const [data, setDataState] = useState<T | undefined>(undefined);
  const [error, setError] = useState<string | null>(null);
  const [status, setStatus] = useState<number | null>(null);
  const [loading, setLoading] = useState(enabled);
  const [tick, setTick] = useState(0);
  // the key the shown data or error belongs to: until it matches `key`, the result is stale
  const [settledKey, setSettledKey] = useState<string | null>(null);
  const loadRef = useRef(load);
  loadRef.current = load;

  useEffect(() => {
    if (!enabled) {
      setLoading(false);
      return;
    }
    let alive = true;
    setLoading(true);
    loadRef.current().then(
      (d) => {
        if (!alive) return;
        setDataState(d);
        setSettledKey(key);
        setError(null);
        setStatus(null);
        setLoading(false);
      },
      (e) => {
        if (!alive) return;
        setError(messageOf(e));
        setSettledKey(key);
        setStatus(e instanceof ApiError ? e.status : null);
        setLoading(false);
      },
    );
    return () => {
      alive = false;
    };
  }, [key, tick, enabled]);

  const reload = useCallback(() => setTick((t) => t + 1), []);
  const setData = useCallback((u: (old: T | undefined) => T | undefined) => setDataState(u), []);
  // loading from the render that changes `key`, not only from the effect after it
  const busy = enabled && (loading || settledKey !== key);
  return { data, error, status, loading: busy, reload, setData };
}

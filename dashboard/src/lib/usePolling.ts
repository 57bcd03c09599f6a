import { useEffect } from "react";

/**
 * Reload every `ms` while the page is visible (and once when it becomes visible again): for
 * data the WebSocket does not push (dictionary versions, federated rounds), a polite refresh.
 */
export function usePolling(reload: () => void, ms: number): void {
  useEffect(() => {
    const tick = () => {
      if (document.visibilityState !== "hidden") reload();
    };
    const timer = window.setInterval(tick, ms);
    const onVisible = () => {
      if (document.visibilityState === "visible") reload();
    };
    document.addEventListener("visibilitychange", onVisible);
    return () => {
      window.clearInterval(timer);
      document.removeEventListener("visibilitychange", onVisible);
    };
  }, [reload, ms]);
}

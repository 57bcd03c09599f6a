import { useEffect } from "react";
import type { Job } from "../api/types";
import { useServices } from "../context";
import type { LiveMessage } from "./connection";

function isJob(x: unknown): x is Job {
  return Boolean(x && typeof x === "object" && typeof (x as Job).id === "string" && typeof (x as Job).status === "string");
}

/** Call `onJob` for every job the live connection reports (updates and snapshot entries). */
export function useJobUpdates(onJob: (job: Job) => void): void {
  const { live } = useServices();
  useEffect(() => {
    const offJob = live.subscribe("job", (m: LiveMessage) => {
      if (isJob(m.job)) onJob(m.job);
    });
    const offSnap = live.subscribe("snapshot", (m: LiveMessage) => {
      if (Array.isArray(m.jobs)) for (const j of m.jobs) if (isJob(j)) onJob(j);
    });
    return () => {
      offJob();
      offSnap();
    };
  }, [live, onJob]);
}

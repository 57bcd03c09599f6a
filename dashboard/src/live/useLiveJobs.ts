import { useEffect } from "react";
import type { Job } from "../api/types";
import { useServices } from "../context";
import type { LiveMessage } from "./connection";

/** Merge one job update into a list, newest first (a job not in the list is added on top). */
export function upsertJob(list: Job[] | undefined, job: Job): Job[] {
  const jobs = list ?? [];
  const i = jobs.findIndex((j) => j.id === job.id);
  if (i === -1) return [job, ...jobs];
  const next = jobs.slice();
  next[i] = { ...jobs[i], ...job };
  return next;
}

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

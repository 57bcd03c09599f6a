import { useId, useState, type FormEvent } from "react";
import { Link } from "react-router";
import { messageOf } from "../api/errors";
import type { JobAccepted } from "../api/types";
import { DropZone } from "../components/DropZone";
import { ProgressBar } from "../components/ProgressBar";
import { useServices } from "../context";
import { formatBytes } from "../lib/format";
import { parseLayers } from "../lib/layers";
import type { Capabilities } from "../api/capabilities";
import { uploadJob, type UploadHandle } from "../lib/upload";

const DEFAULT_PROFILES = ["fast", "balanced", "max"];

/** The profiles the server declares for the upload form (its OpenAPI enum), else the known three. */
export function declaredProfiles(caps: Capabilities): string[] {
  // "" (the server's default) is not a profile to choose: the first one shown is the default
  return (caps.bodyEnum("post", "/api/jobs", "profile") ?? DEFAULT_PROFILES).filter((p) => p !== "");
}

function useProfiles(): string[] {
  return declaredProfiles(useServices().caps);
}

export function NewJobForm({ onAccepted }: { onAccepted: (job: JobAccepted) => void }) {
  const { session, caps } = useServices();
  const profiles = useProfiles();
  const layersOffered = caps.bodyFields("post", "/api/jobs").has("layers");
  const [file, setFile] = useState<File | null>(null);
  const [profile, setProfile] = useState(profiles.includes("balanced") ? "balanced" : profiles[0]);
  const [layers, setLayers] = useState("");
  const [progress, setProgress] = useState<{ sent: number; total: number } | null>(null);
  const [handle, setHandle] = useState<UploadHandle<JobAccepted> | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [accepted, setAccepted] = useState<JobAccepted | null>(null);
  const ids = { profile: useId(), layers: useId(), layersHelp: useId() };

  let layersError: string | null = null;
  if (layers.trim()) {
    try {
      parseLayers(layers);
    } catch (e) {
      layersError = messageOf(e);
    }
  }

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    if (!file || layersError) return;
    setError(null);
    setAccepted(null);
    setProgress({ sent: 0, total: file.size });
    const fields: Record<string, string> = { profile };
    if (layersOffered && layers.trim()) fields.layers = layers.trim();
    const h = uploadJob<JobAccepted>(session, file, fields, (sent, total) => setProgress({ sent, total }));
    setHandle(h);
    try {
      const job = await h.done;
      setAccepted(job);
      setFile(null);
      onAccepted(job);
    } catch (err) {
      setError(messageOf(err));
    } finally {
      setHandle(null);
      setProgress(null);
    }
  };

  const input = "mt-1 block w-full rounded-md border border-slate-400 bg-white px-3 py-2 text-sm";
  return (
    <form onSubmit={submit} aria-label="New job" className="rounded-lg border border-slate-200 bg-white p-4">
      <h2 className="text-base font-semibold">New job</h2>
      <div className="mt-3 grid gap-4 md:grid-cols-[2fr_1fr_1fr]">
        <DropZone file={file} onFile={setFile} disabled={handle !== null} />
        <div>
          <label htmlFor={ids.profile} className="text-sm font-medium text-slate-800">Profile</label>
          <select id={ids.profile} className={input} value={profile} onChange={(e) => setProfile(e.target.value)}
            disabled={handle !== null}>
            {profiles.map((p) => <option key={p} value={p}>{p}</option>)}
          </select>
        </div>
        <div>
          <label htmlFor={ids.layers} className="text-sm font-medium text-slate-800">Layers</label>
          <input id={ids.layers} className={input} value={layers} placeholder={layersOffered ? "e.g. 1-4 or 1,2,6-7" : "not offered"}
            onChange={(e) => setLayers(e.target.value)} disabled={!layersOffered || handle !== null}
            aria-invalid={layersError !== null} aria-describedby={ids.layersHelp} />
          <p id={ids.layersHelp} className={`mt-1 text-xs ${layersError ? "text-red-800" : "text-slate-600"}`}>
            {layersError ?? (layersOffered ? "Blank: the profile chooses." : "This server does not accept a layer choice yet.")}
          </p>
        </div>
      </div>
      {progress && (
        <div className="mt-3">
          <p className="mb-1 text-sm text-slate-700">
            Uploading {formatBytes(progress.sent)} of {formatBytes(progress.total)}
          </p>
          <ProgressBar value={progress.total ? (100 * progress.sent) / progress.total : 0} label="Upload progress" />
        </div>
      )}
      {error && <p role="alert" className="mt-3 text-sm text-red-800">Upload failed: {error}</p>}
      {accepted && (
        <p role="status" className="mt-3 text-sm text-green-900">
          Job <Link className="font-medium underline" to={`/jobs/${encodeURIComponent(accepted.id)}`}>{accepted.name}</Link> accepted.
        </p>
      )}
      <div className="mt-4 flex gap-2">
        <button type="submit" disabled={!file || handle !== null || layersError !== null}
          className="rounded-md bg-blue-800 px-4 py-2 text-sm font-medium text-white hover:bg-blue-900 disabled:opacity-50">
          Compress
        </button>
        {handle && (
          <button type="button" onClick={() => handle.abort()}
            className="rounded-md border border-slate-400 px-4 py-2 text-sm">
            Cancel upload
          </button>
        )}
      </div>
    </form>
  );
}

import { useId, useRef, useState, type DragEvent } from "react";
import { formatBytes } from "../lib/format";

/** A file chooser that also takes a file dropped on it; keyboard users get the plain input. */
export function DropZone({ file, onFile, disabled }: { file: File | null; onFile: (f: File | null) => void; disabled?: boolean }) {
  const id = useId();
  const input = useRef<HTMLInputElement>(null);
  const [over, setOver] = useState(false);

  const drop = (e: DragEvent) => {
    e.preventDefault();
    setOver(false);
    if (disabled) return;
    const f = e.dataTransfer.files?.[0];
    if (f) onFile(f);
  };

  return (
    <div
      data-testid="dropzone"
      onDragOver={(e) => {
        e.preventDefault();
        if (!disabled) setOver(true);
      }}
      onDragLeave={() => setOver(false)}
      onDrop={drop}
      className={`rounded-lg border-2 border-dashed p-6 text-center transition-colors ${
        over ? "border-blue-700 bg-blue-50" : "border-slate-300 bg-white"
      }`}
    >
      <label htmlFor={id} className="block cursor-pointer text-sm text-slate-700">
        <span className="font-medium text-blue-800 underline">Choose a file</span> or drop it here
      </label>
      <input id={id} ref={input} type="file" className="sr-only" disabled={disabled}
        aria-label="File to compress" onChange={(e) => onFile(e.target.files?.[0] ?? null)} />
      {file && (
        <p className="mt-2 text-sm text-slate-900" data-testid="chosen-file">
          {file.name} · {formatBytes(file.size)}
        </p>
      )}
    </div>
  );
}

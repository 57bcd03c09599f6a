import type { ReactNode } from "react";

export function Loading({ what = "Loading" }: { what?: string }) {
  return (
    <div role="status" aria-live="polite" className="flex items-center gap-3 p-6 text-slate-600">
      <span className="h-4 w-4 animate-spin rounded-full border-2 border-slate-300 border-t-blue-700" aria-hidden />
      {what}…
    </div>
  );
}

export function ErrorState({ message, onRetry }: { message: string; onRetry?: () => void }) {
  return (
    <div role="alert" className="rounded-md border border-red-300 bg-red-50 p-4 text-red-900">
      <p className="font-medium">Something went wrong</p>
      <p className="mt-1 text-sm">{message}</p>
      {onRetry && (
        <button type="button" onClick={onRetry}
          className="mt-3 rounded-md bg-red-800 px-3 py-1.5 text-sm font-medium text-white hover:bg-red-900">
          Try again
        </button>
      )}
    </div>
  );
}

export function Empty({ title, children }: { title: string; children?: ReactNode }) {
  return (
    <div data-testid="empty" className="rounded-md border border-dashed border-slate-300 p-8 text-center text-slate-600">
      <p className="font-medium text-slate-800">{title}</p>
      {children && <div className="mt-1 text-sm">{children}</div>}
    </div>
  );
}

/** A page or panel whose endpoint this server does not have (yet). */
export function NotAvailable({ feature, endpoint }: { feature: string; endpoint?: string }) {
  return (
    <div role="note" className="rounded-md border border-amber-300 bg-amber-50 p-6 text-amber-950"
      data-testid="not-available">
      <p className="font-semibold">{feature} is not available on this server</p>
      <p className="mt-1 text-sm">
        This API does not offer {endpoint ? <code className="rounded bg-amber-100 px-1">{endpoint}</code> : "the endpoint"}{" "}
        yet. The page fills in by itself once a server that has it is deployed.
      </p>
    </div>
  );
}

export function PageHeader({ title, children }: { title: string; children?: ReactNode }) {
  return (
    <div className="mb-4 flex flex-wrap items-center justify-between gap-3">
      <h1 className="text-xl font-semibold text-slate-900">{title}</h1>
      {children && <div className="flex flex-wrap items-center gap-2">{children}</div>}
    </div>
  );
}

import { useState, type FormEvent } from "react";
import { useLocation, useNavigate } from "react-router";
import { messageOf } from "../api/errors";
import { useServices } from "../context";

/** Only same-site paths are followed after login (no "//evil", no "https://..."). */
export function safeNext(next: string | null): string {
  if (!next || !next.startsWith("/") || next.startsWith("//") || next.startsWith("/\\") || next.startsWith("/login")) {
    return "/jobs";
  }
  return next;
}

export function LoginPage() {
  const { session } = useServices();
  const navigate = useNavigate();
  const params = new URLSearchParams(useLocation().search);
  const expired = params.has("expired");
  const [username, setUsername] = useState("");
  const [password, setPassword] = useState("");
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      await session.login(username.trim(), password);
      navigate(safeNext(params.get("next")), { replace: true });
    } catch (err) {
      setError(messageOf(err));
      setBusy(false);
    }
  };

  const field = "mt-1 block w-full rounded-md border border-slate-400 bg-white px-3 py-2 text-slate-900";
  return (
    <main className="flex min-h-screen items-center justify-center p-4">
      <form onSubmit={submit} className="w-full max-w-sm rounded-lg border border-slate-200 bg-white p-6 shadow-sm"
        aria-labelledby="login-title">
        <h1 id="login-title" className="text-xl font-semibold">Cobol Protocol</h1>
        <p className="mt-1 text-sm text-slate-600">Sign in to the dashboard</p>
        {expired && !error && (
          <p role="status" className="mt-4 rounded-md bg-amber-50 p-3 text-sm text-amber-950">
            Your session expired. Sign in again to return to the page you were on.
          </p>
        )}
        <label className="mt-4 block text-sm font-medium text-slate-800">
          User name
          <input className={field} name="username" autoComplete="username" required autoFocus
            value={username} onChange={(e) => setUsername(e.target.value)} />
        </label>
        <label className="mt-3 block text-sm font-medium text-slate-800">
          Password
          <input className={field} name="password" type="password" autoComplete="current-password" required
            value={password} onChange={(e) => setPassword(e.target.value)} />
        </label>
        {error && (
          <p role="alert" className="mt-3 text-sm text-red-800">
            {error}
          </p>
        )}
        <button type="submit" disabled={busy}
          className="mt-5 w-full rounded-md bg-blue-800 px-4 py-2 font-medium text-white hover:bg-blue-900 disabled:opacity-60">
          {busy ? "Signing in…" : "Sign in"}
        </button>
      </form>
    </main>
  );
}

import { useId, useState, type FormEvent } from "react";
import { unwrap } from "../api/client";
import type { components } from "../api/schema";
import { messageOf } from "../api/errors";
import { Empty, ErrorState, Loading, PageHeader } from "../components/States";
import { Table } from "../components/Table";
import { atLeast, useMe, useServices } from "../context";
import { formatDate } from "../lib/format";
import { useResource } from "../lib/useResource";

type ApiKey = components["schemas"]["ApiKey"];
type Created = components["schemas"]["ApiKeyCreated"];
const ROLES = ["viewer", "operator", "admin"] as const;
/** One page holds every key of a realistic installation; the total says if not. */
const KEYS_LIMIT = 1000;

function CreateKey({ onCreated }: { onCreated: (k: Created) => void }) {
  const { client } = useServices();
  const { me } = useMe();
  const [name, setName] = useState("");
  const [role, setRole] = useState<(typeof ROLES)[number]>("viewer");
  const [days, setDays] = useState("");
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const ids = { name: useId(), role: useId(), days: useId() };
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const body = { name: name.trim(), role, expires_in_days: days ? Number(days) : null };
      onCreated(unwrap(await client.POST("/api/api-keys", { body })));
      setName("");
      setDays("");
    } catch (err) {
      setError(messageOf(err));
    } finally {
      setBusy(false);
    }
  };
  const input = "mt-1 block w-full rounded-md border border-slate-400 bg-white px-2 py-1.5 text-sm";
  return (
    <form onSubmit={submit} aria-label="New API key" className="rounded-lg border border-slate-200 bg-white p-4">
      <h2 className="mb-3 text-base font-semibold">New API key</h2>
      <div className="grid gap-3 md:grid-cols-4">
        <div>
          <label htmlFor={ids.name} className="text-sm font-medium">Name</label>
          <input id={ids.name} className={input} required maxLength={128} value={name}
            onChange={(e) => setName(e.target.value)} placeholder="backup-script" />
        </div>
        <div>
          <label htmlFor={ids.role} className="text-sm font-medium">Role</label>
          <select id={ids.role} className={input} value={role} onChange={(e) => setRole(e.target.value as typeof role)}>
            {ROLES.filter((r) => atLeast(me, r)).map((r) => <option key={r} value={r}>{r}</option>)}
          </select>
        </div>
        <div>
          <label htmlFor={ids.days} className="text-sm font-medium">Expires after (days, empty: never)</label>
          <input id={ids.days} className={input} type="number" min={1} max={3650} value={days}
            onChange={(e) => setDays(e.target.value)} />
        </div>
        <div className="flex items-end">
          <button type="submit" disabled={busy}
            className="rounded-md bg-blue-800 px-3 py-1.5 text-sm font-medium text-white hover:bg-blue-900 disabled:opacity-60">
            {busy ? "Creating…" : "Create key"}
          </button>
        </div>
      </div>
      {error && <p role="alert" className="mt-2 text-sm text-red-800">{error}</p>}
    </form>
  );
}

/** The secret of a new key: shown here once, never again (the API stores only its hash). */
function ShownOnce({ created, onDone }: { created: Created; onDone: () => void }) {
  const [copied, setCopied] = useState(false);
  const copy = async () => {
    try {
      await navigator.clipboard.writeText(created.key);
      setCopied(true);
    } catch {
      setCopied(false);
    }
  };
  return (
    <section role="alert" aria-label="The new key" className="rounded-lg border border-amber-400 bg-amber-50 p-4 text-amber-950">
      <p className="font-medium">Key “{created.name}” created. Copy it now: it is shown this once.</p>
      <code data-testid="new-key" className="mt-2 block break-all rounded bg-white px-2 py-1 font-mono text-sm">{created.key}</code>
      <div className="mt-2 flex gap-2">
        <button type="button" onClick={copy} className="rounded-md border border-amber-700 px-3 py-1 text-sm">
          {copied ? "Copied" : "Copy"}
        </button>
        <button type="button" onClick={onDone} className="rounded-md bg-amber-800 px-3 py-1 text-sm text-white">
          I have stored it
        </button>
      </div>
    </section>
  );
}

export default function ApiKeysPage() {
  const { client } = useServices();
  const [created, setCreated] = useState<Created | null>(null);
  const [error, setError] = useState<string | null>(null);
  const keys = useResource(async () => unwrap(await client.GET("/api/api-keys", { params: { query: { limit: KEYS_LIMIT } } })),
    "keys");
  const revoke = async (k: ApiKey) => {
    if (!window.confirm(`Revoke the key “${k.name}” of ${k.owner}? Programs using it stop working.`)) return;
    setError(null);
    try {
      const r = await client.DELETE("/api/api-keys/{key_id}", { params: { path: { key_id: k.id } } });
      if (!r.response.ok) unwrap(r);
      keys.setData((old) => old && { ...old, items: old.items.filter((x) => x.id !== k.id), total: old.total - 1 });
    } catch (err) {
      setError(messageOf(err));
    }
  };
  return (
    <div className="space-y-4">
      <PageHeader title="API keys" />
      {created && <ShownOnce created={created} onDone={() => setCreated(null)} />}
      <CreateKey onCreated={(k) => { setCreated(k); keys.reload(); }} />
      {error && <ErrorState message={error} />}
      {keys.error && !keys.data ? <ErrorState message={keys.error} onRetry={keys.reload} />
        : !keys.data ? <Loading what="Loading API keys" />
        : keys.data.items.length === 0 ? <Empty title="No API keys yet">Create one above for a script or a machine.</Empty>
        : (
          <>
            <p className="text-sm text-slate-700">{keys.data.total} {keys.data.total === 1 ? "key" : "keys"}</p>
            <Table caption="API keys" headers={[{ label: "name" }, { label: "owner" }, { label: "role" },
              { label: "created" }, { label: "expires" }, { label: "last used" }, { label: "" }]}>
              {keys.data.items.map((k) => (
                <tr key={k.id} className="border-t border-slate-100" data-testid="key-row" data-key-id={k.id}>
                  <th scope="row" className="px-3 py-2 font-medium">{k.name}</th>
                  <td className="px-3 py-2">{k.owner}</td>
                  <td className="px-3 py-2">{k.role}</td>
                  <td className="px-3 py-2">{formatDate(k.created_at)}</td>
                  <td className="px-3 py-2">{k.expires_at ? formatDate(k.expires_at) : "never"}</td>
                  <td className="px-3 py-2">{k.last_used_at ? formatDate(k.last_used_at) : "—"}</td>
                  <td className="px-3 py-2 text-right">
                    <button type="button" onClick={() => revoke(k)} aria-label={`Revoke ${k.name}`}
                      className="rounded-md border border-red-700 px-2 py-1 text-xs font-medium text-red-800 hover:bg-red-50">
                      Revoke
                    </button>
                  </td>
                </tr>
              ))}
            </Table>
          </>
        )}
    </div>
  );
}

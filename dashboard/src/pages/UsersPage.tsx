import { useId, useState, type FormEvent } from "react";
import { unwrap } from "../api/client";
import { messageOf } from "../api/errors";
import type { User } from "../api/types";
import { Empty, ErrorState, Loading, NotAvailable, PageHeader } from "../components/States";
import { Table } from "../components/Table";
import { useMe, useServices } from "../context";
import { useResource } from "../lib/useResource";

const ROLES = ["viewer", "operator", "admin"] as const;
/** One page of users is the whole list on any realistic installation; the total says if not. */
const USERS_LIMIT = 1000;

function CreateUser({ onCreated }: { onCreated: () => void }) {
  const { client } = useServices();
  const [name, setName] = useState("");
  const [password, setPassword] = useState("");
  const [role, setRole] = useState<(typeof ROLES)[number]>("viewer");
  const [seeAll, setSeeAll] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const ids = { name: useId(), pw: useId(), role: useId(), all: useId() };

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      unwrap(await client.POST("/api/users", { body: { name: name.trim(), password, role, see_all_jobs: seeAll } }));
      setName("");
      setPassword("");
      setSeeAll(false);
      onCreated();
    } catch (err) {
      setError(messageOf(err));
    } finally {
      setBusy(false);
    }
  };
  const input = "mt-1 block w-full rounded-md border border-slate-400 bg-white px-2 py-1.5 text-sm";
  return (
    <form onSubmit={submit} aria-label="New user" className="mb-6 rounded-lg border border-slate-200 bg-white p-4">
      <h2 className="mb-3 text-base font-semibold">New user</h2>
      <div className="grid gap-3 md:grid-cols-5">
        <div>
          <label htmlFor={ids.name} className="text-sm font-medium">Name</label>
          <input id={ids.name} className={input} required maxLength={64} pattern="[A-Za-z0-9_.@\-]+"
            title="letters, digits and _ . @ -" value={name} onChange={(e) => setName(e.target.value)} />
        </div>
        <div>
          <label htmlFor={ids.pw} className="text-sm font-medium">Password (10+ characters)</label>
          <input id={ids.pw} type="password" autoComplete="new-password" className={input} required minLength={10} maxLength={1024}
            value={password} onChange={(e) => setPassword(e.target.value)} />
        </div>
        <div>
          <label htmlFor={ids.role} className="text-sm font-medium">Role</label>
          <select id={ids.role} className={input} value={role} onChange={(e) => setRole(e.target.value as typeof role)}>
            {ROLES.map((r) => <option key={r} value={r}>{r}</option>)}
          </select>
        </div>
        <div className="flex items-center gap-2 self-end pb-2">
          <input id={ids.all} type="checkbox" className="h-4 w-4" checked={seeAll} onChange={(e) => setSeeAll(e.target.checked)} />
          <label htmlFor={ids.all} className="text-sm font-medium">Sees every job</label>
        </div>
        <div className="flex items-end">
          <button type="submit" disabled={busy}
            className="rounded-md bg-blue-800 px-4 py-2 text-sm font-medium text-white hover:bg-blue-900 disabled:opacity-50">
            Create user
          </button>
        </div>
      </div>
      {error && <p role="alert" className="mt-3 text-sm text-red-800">{error}</p>}
    </form>
  );
}

export default function UsersPage() {
  const { client, caps } = useServices();
  const { me } = useMe();
  const users = useResource(async () => unwrap(await client.GET("/api/users", { params: { query: { limit: USERS_LIMIT } } })),
    "users", caps.has("get", "/api/users"));
  const [error, setError] = useState<string | null>(null);

  if (!caps.has("get", "/api/users")) return <><PageHeader title="Users" /><NotAvailable feature="User management" endpoint="GET /api/users" /></>;

  const remove = async (u: User) => {
    if (!window.confirm(`Delete the user ${u.name}? Their sessions stop working at once.`)) return;
    setError(null);
    try {
      const r = await client.DELETE("/api/users/{name}", { params: { path: { name: u.name } } });
      if (!r.response.ok) unwrap(r);
      users.reload();
    } catch (err) {
      setError(messageOf(err));
    }
  };

  return (
    <div>
      <PageHeader title="Users" />
      {caps.has("post", "/api/users") && <CreateUser onCreated={users.reload} />}
      {error && <p role="alert" className="mb-3 text-sm text-red-800">{error}</p>}
      {users.loading && !users.data && <Loading what="Loading users" />}
      {users.error && <ErrorState message={users.error} onRetry={users.reload} />}
      {users.data && users.data.items.length === 0 && <Empty title="No users" />}
      {users.data && users.data.total > users.data.items.length && (
        <p className="mb-2 text-sm text-slate-700">Showing {users.data.items.length} of {users.data.total} users.</p>
      )}
      {users.data && users.data.items.length > 0 && (
        <Table caption="Users and their roles" headers={[
          { label: "Name" }, { label: "Role" }, { label: "Jobs seen" }, { label: "State" }, { label: <span className="sr-only">Actions</span> },
        ]}>
          {users.data.items.map((u) => (
            <tr key={u.name} className="border-t border-slate-200" data-testid="user-row">
              <td className="px-3 py-2 font-medium">{u.name}</td>
              <td className="px-3 py-2">{u.role}</td>
              <td className="px-3 py-2">{u.role === "admin" || u.see_all_jobs ? "all" : "own"}</td>
              <td className="px-3 py-2">{u.disabled ? "disabled" : "active"}</td>
              <td className="px-3 py-2 text-right">
                {u.name !== me?.name && caps.has("delete", "/api/users/{name}") && (
                  <button type="button" onClick={() => remove(u)}
                    className="rounded-md border border-red-700 px-2 py-1 text-xs font-medium text-red-800 hover:bg-red-50">
                    Delete<span className="sr-only"> {u.name}</span>
                  </button>
                )}
              </td>
            </tr>
          ))}
        </Table>
      )}
    </div>
  );
}

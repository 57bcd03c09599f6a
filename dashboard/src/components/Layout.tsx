import { useState } from "react";
import { NavLink, Outlet, useNavigate } from "react-router";
import { atLeast, useLiveState, useMe, useServices, type Role } from "../context";

export interface NavItem {
  to: string;
  label: string;
  role: Role;
}

export const NAV: NavItem[] = [
  { to: "/jobs", label: "Jobs", role: "viewer" },
  { to: "/cluster", label: "Cluster", role: "viewer" },
  { to: "/analytics", label: "Analytics", role: "viewer" },
  { to: "/dictionaries", label: "Dictionaries", role: "viewer" },
  { to: "/federation", label: "Federated rounds", role: "viewer" },
  { to: "/admin/users", label: "Users", role: "admin" },
  { to: "/admin/audit", label: "Audit log", role: "admin" },
  { to: "/admin/api-keys", label: "API keys", role: "admin" },
];

const LIVE_TEXT: Record<string, [string, string]> = {
  open: ["live", "bg-green-600"],
  connecting: ["connecting", "bg-amber-500"],
  reconnecting: ["reconnecting", "bg-amber-500"],
  unauthorized: ["offline", "bg-red-600"],
  idle: ["offline", "bg-slate-400"],
};

export function Layout() {
  const { me } = useMe();
  const { session } = useServices();
  const live = useLiveState();
  const navigate = useNavigate();
  const [open, setOpen] = useState(false);
  const items = NAV.filter((n) => atLeast(me, n.role));
  const [liveText, liveColor] = LIVE_TEXT[live] ?? LIVE_TEXT.idle;

  const link = ({ isActive }: { isActive: boolean }) =>
    `block rounded-md px-3 py-2 text-sm font-medium ${
      isActive ? "bg-slate-900 text-white" : "text-slate-800 hover:bg-slate-200"
    }`;

  return (
    <div className="min-h-screen md:flex">
      <a href="#main" className="sr-only focus:not-sr-only focus:absolute focus:left-2 focus:top-2 focus:z-50 focus:rounded focus:bg-white focus:p-2">
        Skip to content
      </a>
      <header className="flex items-center justify-between border-b border-slate-200 bg-white px-4 py-3 md:hidden">
        <span className="font-semibold">Cobol Protocol</span>
        <button type="button" aria-expanded={open} aria-controls="nav" onClick={() => setOpen(!open)}
          className="rounded-md border border-slate-300 px-3 py-1.5 text-sm">
          Menu
        </button>
      </header>
      <aside id="nav" className={`${open ? "block" : "hidden"} border-b border-slate-200 bg-white p-4 md:block md:min-h-screen md:w-56 md:shrink-0 md:border-b-0 md:border-r`}>
        <p className="mb-4 hidden text-lg font-semibold md:block">Cobol Protocol</p>
        <nav aria-label="Main">
          <ul className="space-y-1">
            {items.map((n) => (
              <li key={n.to}>
                <NavLink to={n.to} className={link} onClick={() => setOpen(false)}>
                  {n.label}
                </NavLink>
              </li>
            ))}
          </ul>
        </nav>
        <div className="mt-6 border-t border-slate-200 pt-4 text-sm">
          <p className="flex items-center gap-2 text-slate-700" data-testid="live-state">
            <span className={`inline-block h-2 w-2 rounded-full ${liveColor}`} aria-hidden />
            Updates: {liveText}
          </p>
          {me && (
            <p className="mt-2 text-slate-800">
              <span className="font-medium" data-testid="me-name">{me.name}</span>{" "}
              <span className="text-slate-600">({me.role})</span>
            </p>
          )}
          <button type="button" className="mt-2 text-sm font-medium text-blue-800 underline"
            onClick={async () => {
              await session.logout();
              navigate("/login", { replace: true });
            }}>
            Log out
          </button>
        </div>
      </aside>
      <main id="main" className="min-w-0 flex-1 p-4 md:p-8">
        <Outlet />
      </main>
    </div>
  );
}

import { lazy, Suspense, useEffect, useState, type ReactNode } from "react";
import { BrowserRouter, Navigate, Route, Routes, useLocation, useNavigate } from "react-router";
import { Layout } from "./components/Layout";
import { ErrorState, Loading } from "./components/States";
import { atLeast, useMe, useServices, type Role } from "./context";
import { LoginPage, safeNext } from "./pages/LoginPage";
import { JobsPage } from "./pages/JobsPage";
import { JobDetailPage } from "./pages/JobDetailPage";

// Pages that are rarely the first one opened are loaded on demand, to keep the first load small.
const ClusterPage = lazy(() => import("./pages/ClusterPage"));
const AnalyticsPage = lazy(() => import("./pages/AnalyticsPage"));
const DictionaryPage = lazy(() => import("./pages/DictionaryPage"));
const FederationPage = lazy(() => import("./pages/FederationPage"));
const UsersPage = lazy(() => import("./pages/UsersPage"));
const AuditPage = lazy(() => import("./pages/AuditPage"));
const ApiKeysPage = lazy(() => import("./pages/ApiKeysPage"));

/** Sends the user to the login page when the session expires, remembering where they were. */
function ExpiryWatcher() {
  const { session } = useServices();
  const navigate = useNavigate();
  const location = useLocation();
  useEffect(() => session.on((e) => {
    if (e === "expired" && location.pathname !== "/login") {
      const next = location.pathname + location.search;
      navigate(`/login?expired=1&next=${encodeURIComponent(next)}`, { replace: true });
    }
  }), [session, navigate, location]);
  return null;
}

function RequireSession({ children }: { children: ReactNode }) {
  const { session } = useServices();
  const location = useLocation();
  const [loggedIn, setLoggedIn] = useState(session.loggedIn);
  useEffect(() => session.on(() => setLoggedIn(session.loggedIn)), [session]);
  if (!loggedIn) {
    const next = location.pathname + location.search;
    const expired = session.endedBy === "expired" ? "expired=1&" : "";
    return <Navigate to={`/login?${expired}next=${encodeURIComponent(next)}`} replace />;
  }
  return <>{children}</>;
}

export function RequireRole({ role, children }: { role: Role; children: ReactNode }) {
  const { me, loading, error } = useMe();
  if (loading) return <Loading what="Checking your access" />;
  if (error) return <ErrorState message={error} />;
  if (!atLeast(me, role)) {
    return (
      <div role="alert" data-testid="forbidden" className="rounded-md border border-slate-300 bg-white p-6">
        <h1 className="text-lg font-semibold">You cannot open this page</h1>
        <p className="mt-1 text-slate-700">It needs the {role} role; you are signed in as {me?.role ?? "nobody"}.</p>
      </div>
    );
  }
  return <>{children}</>;
}

function NotFound() {
  return (
    <div className="rounded-md border border-slate-300 bg-white p-6">
      <h1 className="text-lg font-semibold">No such page</h1>
      <p className="mt-1 text-slate-700">Pick a page from the menu.</p>
    </div>
  );
}

function LoginRoute() {
  const { session } = useServices();
  const location = useLocation();
  if (session.loggedIn && !new URLSearchParams(location.search).has("expired")) {
    return <Navigate to={safeNext(new URLSearchParams(location.search).get("next"))} replace />;
  }
  return <LoginPage />;
}

export function AppRoutes() {
  const lazyPage = (node: ReactNode) => <Suspense fallback={<Loading />}>{node}</Suspense>;
  return (
    <>
      <ExpiryWatcher />
      <Routes>
        <Route path="/login" element={<LoginRoute />} />
        <Route element={<RequireSession><Layout /></RequireSession>}>
          <Route index element={<Navigate to="/jobs" replace />} />
          <Route path="/jobs" element={<JobsPage />} />
          <Route path="/jobs/:jobId" element={<JobDetailPage />} />
          <Route path="/cluster" element={lazyPage(<ClusterPage />)} />
          <Route path="/analytics" element={lazyPage(<AnalyticsPage />)} />
          <Route path="/dictionaries" element={lazyPage(<DictionaryPage />)} />
          <Route path="/federation" element={lazyPage(<FederationPage />)} />
          <Route path="/admin/users" element={<RequireRole role="admin">{lazyPage(<UsersPage />)}</RequireRole>} />
          <Route path="/admin/audit" element={<RequireRole role="admin">{lazyPage(<AuditPage />)}</RequireRole>} />
          <Route path="/admin/api-keys" element={<RequireRole role="admin">{lazyPage(<ApiKeysPage />)}</RequireRole>} />
          <Route path="*" element={<NotFound />} />
        </Route>
      </Routes>
    </>
  );
}

export function App() {
  return (
    <BrowserRouter>
      <AppRoutes />
    </BrowserRouter>
  );
}

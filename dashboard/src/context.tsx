/**
 * The services every page uses, created once: the session, the typed client, what the
 * server offers (its OpenAPI document) and the live connection; plus the current user.
 */
import { createContext, useContext, useEffect, useMemo, useState, type ReactNode } from "react";
import { Capabilities, loadCapabilities, type OpenApiDoc } from "./api/capabilities";
import offered from "./api/offered.json";
import { makeClient, unwrap, type Client } from "./api/client";
import { Session } from "./auth/session";
import { LiveConnection, type LiveState } from "./live/connection";

export type Role = "viewer" | "operator" | "admin";
const RANK: Record<string, number> = { viewer: 0, operator: 1, admin: 2 };

export interface Me {
  name: string;
  role: Role;
}

export function atLeast(me: Me | null, role: Role): boolean {
  return me !== null && (RANK[me.role] ?? -1) >= RANK[role];
}

export interface Services {
  session: Session;
  client: Client;
  caps: Capabilities;
  live: LiveConnection;
}

export function createServices(): Services {
  // What the API offered when this bundle was built; the server's own document replaces it
  // once loaded, so the first paint never waits for it.
  const holder: { caps: Capabilities } = { caps: new Capabilities(offered as unknown as OpenApiDoc) };
  const session = new Session({
    canRefresh: () => holder.caps.has("post", "/api/auth/refresh"),
    canLogout: () => holder.caps.has("post", "/api/auth/logout"),
  });
  const live = new LiveConnection({
    getToken: () => session.accessToken,
    onUnauthorized: async () => {
      if (await session.refresh()) return true;
      session.expire();
      return false;
    },
  });
  return {
    session,
    client: makeClient(session),
    get caps() {
      return holder.caps;
    },
    set caps(c: Capabilities) {
      holder.caps = c;
    },
    live,
  };
}

const ServicesContext = createContext<Services | null>(null);
const MeContext = createContext<{ me: Me | null; loading: boolean; error: string | null }>({
  me: null, loading: false, error: null,
});

export function useServices(): Services {
  const s = useContext(ServicesContext);
  if (!s) throw new Error("useServices outside <AppProvider>");
  return s;
}

export function useMe() {
  return useContext(MeContext);
}

export function useLiveState(): LiveState {
  const { live } = useServices();
  const [state, setState] = useState(live.state);
  useEffect(() => live.onState(setState), [live]);
  return state;
}

/** Keeps the capabilities, the current user and the live socket in step with the server and the session. */
export function AppProvider({ services, children }: { services: Services; children: ReactNode }) {
  const [capsVersion, setCapsVersion] = useState(0);
  const [loggedIn, setLoggedIn] = useState(services.session.loggedIn);
  const [meState, setMeState] = useState<{ me: Me | null; loading: boolean; error: string | null }>({
    me: null, loading: services.session.loggedIn, error: null,
  });

  useEffect(() => {
    let alive = true;
    loadCapabilities().then((c) => {
      if (!alive || !c.known) return;
      services.caps = c;
      setCapsVersion((v) => v + 1);
    });
    const off = services.session.on(() => setLoggedIn(services.session.loggedIn));
    return () => {
      alive = false;
      off();
    };
  }, [services]);

  useEffect(() => {
    if (!loggedIn) {
      services.live.stop();
      setMeState({ me: null, loading: false, error: null });
      return;
    }
    let alive = true;
    setMeState((s) => ({ ...s, loading: true, error: null }));
    services.client.GET("/api/me").then(
      (r) => {
        if (!alive) return;
        try {
          const me = unwrap(r) as Me;
          setMeState({ me, loading: false, error: null });
        } catch (e) {
          setMeState({ me: null, loading: false, error: e instanceof Error ? e.message : String(e) });
        }
      },
      (e) => alive && setMeState({ me: null, loading: false, error: e instanceof Error ? e.message : String(e) }),
    );
    services.live.restart();
    return () => {
      alive = false;
    };
  }, [loggedIn, services]);

  // between a login and the /api/me answer the user is "loading", never "nobody"
  const value = useMemo(() => ({ ...meState, loading: meState.loading || (loggedIn && !meState.me && !meState.error) }),
    [meState, loggedIn]);
  const current = useMemo<Services>(
    () => ({ session: services.session, client: services.client, live: services.live, caps: services.caps }),
    // eslint-disable-next-line react-hooks/exhaustive-deps -- a new document means new caps
    [services, capsVersion]);
  return (
    <ServicesContext.Provider value={current}>
      <MeContext.Provider value={value}>{children}</MeContext.Provider>
    </ServicesContext.Provider>
  );
}

/** For tests: provide ready-made services and a user without loading anything. */
export function TestProvider({ services, me, children }: { services: Services; me: Me | null; children: ReactNode }) {
  return (
    <ServicesContext.Provider value={services}>
      <MeContext.Provider value={{ me, loading: false, error: null }}>{children}</MeContext.Provider>
    </ServicesContext.Provider>
  );
}

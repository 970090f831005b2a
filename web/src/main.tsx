// The dashboard: signs the user in, keeps the session alive, and shows the
// page the URL names, with only the pages the user's role may use.

import "./styles.css";
import type { ComponentChildren } from "preact";
import { render } from "preact";
import { useEffect, useRef, useState } from "preact/hooks";
import { actAsOrg, get, post, whenSignedOut } from "./api";
import { ChatPage } from "./pages/chat";
import { Chats } from "./pages/chats";
import { Exports } from "./pages/exports";
import { Keys } from "./pages/keys";
import { Account, OrgSettings } from "./pages/settings";
import { SignIn } from "./pages/signin";
import { Users } from "./pages/users";
import { BASE, HOME, type Location, type Route, interceptLinks, match, navigate, safeReturnTo, useLocation, withQuery } from "./router";
import { hadSession, signedIn, signedOut, startSession } from "./session";
import { type Me, type Org, type Paged, can } from "./types";
import { Empty, ErrorNote, Loading, NoAccess, PageHeader, describe } from "./ui";

/**
 * Why the user is going to sign-in: their session ended (say so, and come
 * back here after), they were never signed in (come back here), or they
 * signed out (start afresh).
 */
type Why = "expired" | "anonymous" | "signed-out";

function toSignIn(why: Why) {
  const here = location.pathname + location.search;
  const next = why === "signed-out" || match(location.pathname).page === "signin" ? null : here;
  navigate(withQuery(`${BASE}/signin`, { next, expired: why === "expired" ? "1" : null }), { replace: true });
}

const ACTING_ORG_KEY = "chatlogger.org";

function App() {
  const where = useLocation();
  const route = match(where.pathname);
  // undefined: still asking the server; null: signed out.
  const [me, setMe] = useState<Me | null | undefined>(undefined);
  const [bootError, setBootError] = useState<unknown>(null);
  const [orgs, setOrgs] = useState<Org[]>([]);
  const [actingOrg, setActingOrg] = useState<string | null>(null);
  const [flash, setFlash] = useState<string | null>(null);

  /** Leaves for sign-in; `tellOthers` when the other tabs' session is gone too. */
  const signedOutNow = async (why: Why, tellOthers = false) => {
    await signedOut(tellOthers);
    setMe(null);
    toSignIn(why);
  };

  const begin = (who: Me) => {
    setMe(who);
    // Ended by the server, or signed out in another tab.
    startSession(() => signedOutNow("expired"));
    if (can(who, "manage_all_orgs")) {
      const saved = sessionStorage.getItem(ACTING_ORG_KEY);
      actAsOrg(saved);
      setActingOrg(saved);
      get<Paged<Org>>("/orgs", { limit: 100 }).then((page) => setOrgs(page.items), () => setOrgs([]));
    }
  };

  useEffect(() => {
    interceptLinks();
    // A call met a session the server no longer accepts, renewal included.
    whenSignedOut(async () => {
      const had = await hadSession();
      await signedOutNow(had ? "expired" : "anonymous", had);
    });
    if (match(location.pathname).page === "signin") {
      setMe(null);
      return;
    }
    get<Me>("/users/me").then(begin, (error) => {
      // A 401 has already gone to sign-in (api.ts); anything else is shown.
      if (!(error instanceof Error && "status" in error && error.status === 401)) setBootError(error);
    });
  }, []);

  // Focus the new page's heading, so keyboard and screen-reader users start there.
  const lastPath = useRef(where.pathname);
  useEffect(() => {
    if (lastPath.current === where.pathname) return;
    lastPath.current = where.pathname;
    setFlash((current) => (current && route.page === "chats" ? current : null));
    requestAnimationFrame(() => {
      // A form that asks for focus (sign-in's email) gets it; else the heading.
      const target = document.querySelector<HTMLElement>("main [autofocus]") ?? document.getElementById("page-title");
      target?.focus();
    });
    window.scrollTo(0, 0);
  }, [where.pathname]);

  if (route.page === "signin") {
    return (
      <SignIn
        expired={where.search.get("expired") === "1"}
        onSignedIn={async (who) => {
          await signedIn();
          begin(who);
          navigate(safeReturnTo(where.search.get("next")), { replace: true });
        }}
      />
    );
  }
  if (bootError) {
    return (
      <main id="main" class="signin">
        <div class="card signin-card">
          <h1 id="page-title">The dashboard could not start</h1>
          <ErrorNote error={bootError} onRetry={() => location.reload()} />
        </div>
      </main>
    );
  }
  if (!me) return <Loading />;

  const signOut = async () => {
    try {
      await post("/auth/logout");
    } catch {
      // Signed out already (or the server is away): the cookies go either way.
    }
    sessionStorage.removeItem(ACTING_ORG_KEY);
    await signedOutNow("signed-out", true);
  };
  const switchOrg = (orgId: string) => {
    const chosen = orgId === me.org.id ? null : orgId;
    if (chosen) sessionStorage.setItem(ACTING_ORG_KEY, chosen);
    else sessionStorage.removeItem(ACTING_ORG_KEY);
    actAsOrg(chosen);
    setActingOrg(chosen);
    navigate(HOME);
  };
  const orgName = orgs.find((o) => o.id === actingOrg)?.name ?? me.org.name;

  return (
    <Shell me={me} route={route} orgName={orgName} orgs={orgs} actingOrg={actingOrg ?? me.org.id} onSwitchOrg={switchOrg} onSignOut={signOut}>
      {/* A new org (superadmins) remounts the page, so it reloads its data. */}
      <Page
        key={actingOrg ?? "own"}
        route={route}
        where={where}
        me={me}
        flash={flash}
        setMe={setMe}
        onDeleted={(message) => {
          setFlash(message);
          navigate(HOME);
        }}
        onSignOut={signOut}
      />
    </Shell>
  );
}

function Page(props: {
  route: Route;
  where: Location;
  me: Me;
  flash: string | null;
  setMe: (me: Me) => void;
  onDeleted: (message: string) => void;
  onSignOut: () => void;
}) {
  const { route, me } = props;
  switch (route.page) {
    case "chats":
      return <Chats where={props.where} me={me} flash={props.flash} />;
    case "chat":
      return <ChatPage id={route.id} me={me} onDeleted={props.onDeleted} />;
    case "analytics":
      return can(me, "read_analytics") ? <LazyAnalytics where={props.where} /> : <NoAccess />;
    case "exports":
      return can(me, "export") ? <Exports /> : <NoAccess />;
    case "keys":
      return can(me, "manage_keys") ? <Keys me={me} /> : <NoAccess />;
    case "users":
      return can(me, "manage_users") ? <Users me={me} /> : <NoAccess />;
    case "org":
      return can(me, "manage_org") ? (
        <OrgSettings onChanged={(org) => (org.id === me.org.id ? props.setMe({ ...me, org }) : undefined)} />
      ) : (
        <NoAccess />
      );
    case "account":
      return <Account me={me} onChanged={(user) => props.setMe({ ...me, user })} onSignOut={props.onSignOut} />;
    default:
      return (
        <>
          <PageHeader title="Page not found" />
          <Empty title="There is no page at this address.">
            <a href={HOME}>Go to the chats</a>
          </Empty>
        </>
      );
  }
}

/** The analytics page and its chart library load only when it is opened. */
type AnalyticsModule = typeof import("./pages/analytics");
let analyticsModule: Promise<AnalyticsModule> | null = null;
function LazyAnalytics(props: { where: Location }) {
  const [loaded, setLoaded] = useState<AnalyticsModule | null>(null);
  const [error, setError] = useState<unknown>(null);
  useEffect(() => {
    analyticsModule ??= import("./pages/analytics");
    analyticsModule.then(setLoaded, (failure) => {
      analyticsModule = null;
      setError(failure);
    });
  }, []);
  if (error) {
    return (
      <>
        <PageHeader title="Analytics" />
        <p class="notice error" role="alert">
          The analytics page could not load: {describe(error)} Reload the page to try again.
        </p>
      </>
    );
  }
  return loaded ? <loaded.default where={props.where} /> : <Loading what="analytics" />;
}

interface NavItem {
  page: Route["page"];
  href: string;
  label: string;
}

function Shell(props: {
  me: Me;
  route: Route;
  orgName: string;
  orgs: Org[];
  actingOrg: string;
  onSwitchOrg: (orgId: string) => void;
  onSignOut: () => void;
  children: ComponentChildren;
}) {
  const { me } = props;
  const items: NavItem[] = [{ page: "chats", href: `${BASE}/chats`, label: "Chats" }];
  if (can(me, "read_analytics")) {
    items.push({ page: "analytics", href: `${BASE}/analytics`, label: "Analytics" });
  }
  if (can(me, "export")) {
    items.push({ page: "exports", href: `${BASE}/exports`, label: "Exports" });
  }
  const admin: NavItem[] = [];
  if (can(me, "manage_keys")) {
    admin.push({ page: "keys", href: `${BASE}/keys`, label: "API keys" });
  }
  if (can(me, "manage_users")) {
    admin.push({ page: "users", href: `${BASE}/users`, label: "Users" });
  }
  if (can(me, "manage_org")) {
    admin.push({ page: "org", href: `${BASE}/org`, label: "Org settings" });
  }
  const current = props.route.page === "chat" ? "chats" : props.route.page;
  const link = (item: NavItem) => (
    <li key={item.page}>
      <a href={item.href} aria-current={current === item.page ? "page" : undefined}>
        {item.label}
      </a>
    </li>
  );
  return (
    <>
      <a class="skip-link" href="#main">
        Skip to content
      </a>
      <header class="topbar">
        <a class="brand" href={HOME}>
          <span class="logo" aria-hidden="true" />
          chatlogger
        </a>
        {can(me, "manage_all_orgs") && props.orgs.length > 0 ? (
          <div class="org-switch">
            <label for="org-switch">Org</label>
            <select id="org-switch" value={props.actingOrg} onChange={(e) => props.onSwitchOrg(e.currentTarget.value)}>
              {props.orgs.map((org) => (
                <option key={org.id} value={org.id}>
                  {org.name} ({org.slug})
                </option>
              ))}
            </select>
          </div>
        ) : (
          <span class="org-name">{props.orgName}</span>
        )}
        <div class="who">
          <a href={`${BASE}/account`} class="account-link" aria-current={current === "account" ? "page" : undefined}>
            {props.me.user.display_name || props.me.user.email}
          </a>
          <span class="role-pill">{me.user.role}</span>
          <button type="button" class="link-button" onClick={props.onSignOut}>
            Sign out
          </button>
        </div>
      </header>
      <div class="shell">
        <nav class="sidebar" aria-label="Main">
          <ul>{items.map(link)}</ul>
          {admin.length > 0 && (
            <>
              <p class="nav-heading" id="admin-nav">
                Admin
              </p>
              <ul aria-labelledby="admin-nav">{admin.map(link)}</ul>
            </>
          )}
        </nav>
        <main id="main" tabIndex={-1}>
          {props.children}
        </main>
      </div>
    </>
  );
}

render(<App />, document.getElementById("app")!);

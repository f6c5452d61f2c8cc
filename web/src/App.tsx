import { useCallback, useEffect, useMemo, useState, type ReactNode } from 'react';
import { api, failureOf, ok, onUnauthorized, type Me, type Role } from './api/client';
import { Page } from './components/Page';
import { Notice } from './components/Notice';
import { Link, match, navigate, useLocation } from './router';
import { apiKey, forgetApiKey, rememberApiKey } from './session';
import { SessionContext, type Session } from './sessionContext';
import { SignIn } from './pages/SignIn';
import { Fleet } from './pages/Fleet';
import { Worklist } from './pages/Worklist';
import { SettlementPage } from './pages/SettlementPage';
import { MachinePage } from './pages/MachinePage';
import { CassettesIndex, CassettesPage } from './pages/Cassettes';
import { LpsPage } from './pages/Lps';
import { SplitsPage } from './pages/Splits';
import { LpBalances } from './pages/LpBalances';
import { LpPayouts } from './pages/LpPayouts';
import { LpPreferences } from './pages/LpPreferences';
import { SuperConfigPage } from './pages/SuperConfig';
import { SuperUsers } from './pages/SuperUsers';
import { Reports } from './pages/Reports';
import { LpStatementPage } from './pages/LpStatement';
import { AlertPage, AlertSettingsPage, AlertsPage } from './pages/Alerts';

interface Route {
  path: string;
  roles: Role[];
  render: (params: Record<string, string>) => ReactNode;
  /** shown in the navigation under this label */
  nav?: string;
  /** a page without a nav entry of its own: the nav entry it is highlighted under */
  section?: string;
}

const ROUTES: Route[] = [
  { path: '/fleet', roles: ['operator'], nav: 'Fleet', render: () => <Fleet /> },
  { path: '/worklist', roles: ['operator'], nav: 'Worklist', render: () => <Worklist /> },
  { path: '/lps', roles: ['operator'], nav: 'LPs & deposits', render: () => <LpsPage /> },
  { path: '/splits', roles: ['operator'], nav: 'Commission splits', render: () => <SplitsPage /> },
  { path: '/cassettes', roles: ['operator'], nav: 'Cassettes', render: () => <CassettesIndex /> },
  { path: '/reports', roles: ['operator'], nav: 'Reports', render: () => <Reports /> },
  { path: '/alerts', roles: ['operator'], nav: 'Alerts', render: () => <AlertsPage /> },
  { path: '/alerts/settings', roles: ['operator'], section: '/alerts', render: () => <AlertSettingsPage /> },
  { path: '/alerts/:id', roles: ['operator'], section: '/alerts', render: (p) => <AlertPage id={p.id!} /> },
  {
    path: '/settlements/:id',
    roles: ['operator'],
    section: '/fleet',
    render: (p) => <SettlementPage id={p.id!} />,
  },
  {
    path: '/machines/:id',
    roles: ['operator'],
    section: '/fleet',
    render: (p) => <MachinePage id={p.id!} />,
  },
  {
    path: '/machines/:id/cassettes',
    roles: ['operator'],
    section: '/cassettes',
    render: (p) => <CassettesPage id={p.id!} />,
  },
  { path: '/lp', roles: ['lp'], nav: 'Balances', render: () => <LpBalances /> },
  { path: '/lp/payouts', roles: ['lp'], nav: 'Payouts', render: () => <LpPayouts /> },
  { path: '/lp/statement', roles: ['lp'], nav: 'Statement', render: () => <LpStatementPage /> },
  { path: '/lp/preferences', roles: ['lp'], nav: 'Preferences', render: () => <LpPreferences /> },
  { path: '/super/config', roles: ['super'], nav: 'Platform config', render: () => <SuperConfigPage /> },
  { path: '/super/users', roles: ['super'], nav: 'Users', render: () => <SuperUsers /> },
  { path: '/reports', roles: ['super'], nav: 'Reports', render: () => <Reports /> },
];

const HOME: Record<Role, string> = { operator: '/fleet', lp: '/lp', super: '/super/config' };
const ROLE_NAME: Record<Role, string> = { operator: 'operator', lp: 'liquidity provider', super: 'platform' };

/** The route of a path: the one for this role when a path has one per role, else the first. */
function resolve(path: string, role?: Role): { route: Route; params: Record<string, string> } | null {
  let first: { route: Route; params: Record<string, string> } | null = null;
  for (const route of ROUTES) {
    const params = match(route.path, path);
    if (!params) continue;
    if (role === undefined || route.roles.includes(role)) return { route, params };
    first ??= { route, params };
  }
  return first;
}

/** Replaces the current URL (after render); `remember` is where to come back after signing in. */
function Redirect({ to, remember }: { to: string; remember?: string }) {
  useEffect(() => {
    // an in-app path, never a secret
    if (remember !== undefined && remember !== '/')
      window.sessionStorage.setItem('satmachine.returnTo', remember);
    navigate(to, { replace: true });
  }, [to, remember]);
  return null;
}

type State =
  | { phase: 'checking' }
  | { phase: 'unreachable'; message: string }
  | { phase: 'signed-out'; notice?: string }
  | { phase: 'signed-in'; user: Me };

export function App() {
  const [state, setState] = useState<State>(() =>
    apiKey() ? { phase: 'checking' } : { phase: 'signed-out' },
  );
  const { path } = useLocation();

  const signOut = useCallback((notice?: string) => {
    forgetApiKey();
    setState({ phase: 'signed-out', notice });
    navigate('/signin', { replace: true });
  }, []);

  // a key kept in this tab (a reload): check it is still good
  useEffect(() => {
    if (state.phase !== 'checking') return;
    ok(api.GET('/api/v1/me')).then(
      (user) => setState({ phase: 'signed-in', user }),
      (err: unknown) => {
        const f = failureOf(err);
        // only a refused key ends the session; an API that is down keeps it for a retry
        if (f.status === 401) signOut('Your session has ended; sign in again.');
        else setState({ phase: 'unreachable', message: f.message });
      },
    );
  }, [state.phase, signOut]);

  // the API refused the key mid-session (revoked): end the session
  useEffect(
    () =>
      onUnauthorized(() => {
        if (apiKey()) signOut('The API no longer accepts your key; sign in again.');
      }),
    [signOut],
  );

  const session = useMemo<Session | null>(
    () => (state.phase === 'signed-in' ? { user: state.user, signOut: () => signOut() } : null),
    [state, signOut],
  );

  if (state.phase === 'checking') {
    return (
      <main id="main" className="signin">
        <p role="status">Checking your session…</p>
      </main>
    );
  }

  if (state.phase === 'unreachable') {
    return (
      <main id="main" className="signin">
        <h1>satmachine console</h1>
        <Notice kind="error">{state.message}</Notice>
        <div className="actions">
          <button type="button" className="primary" onClick={() => setState({ phase: 'checking' })}>
            Try again
          </button>
          <button type="button" onClick={() => signOut()}>
            Sign out
          </button>
        </div>
      </main>
    );
  }

  if (state.phase === 'signed-out') {
    if (path !== '/signin') return <Redirect to="/signin" remember={path} />;
    return (
      <SignIn
        notice={state.notice}
        onSignedIn={(key, user) => {
          rememberApiKey(key);
          setState({ phase: 'signed-in', user });
          const back = window.sessionStorage.getItem('satmachine.returnTo');
          window.sessionStorage.removeItem('satmachine.returnTo');
          const allowed = back ? resolve(back, user.role)?.route.roles.includes(user.role) : false;
          navigate(back && allowed ? back : HOME[user.role], { replace: true });
        }}
      />
    );
  }

  const user = state.user;
  if (path === '/' || path === '/signin') return <Redirect to={HOME[user.role]} />;
  const found = resolve(path, user.role);
  let content: ReactNode;
  if (!found) {
    content = (
      <Page title="Page not found">
        <p>
          There is no page at <code>{path}</code>. <Link to={HOME[user.role]}>Go to your start page</Link>.
        </p>
      </Page>
    );
  } else if (!found.route.roles.includes(user.role)) {
    content = (
      <Page title="Not available">
        <Notice kind="warning">
          This page is for {found.route.roles.map((r) => ROLE_NAME[r]).join(' or ')} accounts; you are signed
          in as {ROLE_NAME[user.role]} <strong>{user.name}</strong>.
        </Notice>
        <p>
          <Link to={HOME[user.role]}>Go to your start page</Link>
        </p>
      </Page>
    );
  } else {
    content = found.route.render(found.params);
  }

  const nav = ROUTES.filter((r) => r.nav && r.roles.includes(user.role));
  return (
    <SessionContext.Provider value={session}>
      <a className="skip-link" href="#main">
        Skip to content
      </a>
      <header className="topbar">
        <div className="brand">
          <Link to={HOME[user.role]}>satmachine</Link>
        </div>
        <nav aria-label="Main">
          <ul>
            {nav.map((r) => {
              // the page's own entry, or the section a page without an entry belongs to
              const current = found?.route.nav
                ? found.route.path === r.path
                : found?.route.section === r.path;
              return (
                <li key={r.path}>
                  <Link to={r.path} aria-current={current ? 'page' : undefined}>
                    {r.nav}
                  </Link>
                </li>
              );
            })}
          </ul>
        </nav>
        <div className="who">
          <span>
            <span className="visually-hidden">Signed in as </span>
            {user.name} <span className="role">({ROLE_NAME[user.role]})</span>
          </span>
          <button type="button" onClick={() => signOut()}>
            Sign out
          </button>
        </div>
      </header>
      <main id="main" tabIndex={-1}>
        {/* a new page for each path: state (forms, one-time keys) never leaks across pages */}
        <div key={path}>{content}</div>
      </main>
    </SessionContext.Provider>
  );
}

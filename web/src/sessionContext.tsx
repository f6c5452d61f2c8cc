import { createContext, useContext } from 'react';
import type { Me } from './api/client';

export interface Session {
  user: Me;
  signOut: (why?: string) => void;
}

export const SessionContext = createContext<Session | null>(null);

/** The signed-in user (pages are only rendered inside a session). */
export function useSession(): Session {
  const s = useContext(SessionContext);
  if (!s) throw new Error('useSession outside a session');
  return s;
}

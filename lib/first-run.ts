// What `npm start` says on a first start, when it made the first admin token (lib/api-tokens.ts):
// the token once, with a sign-in link to the dashboard (the token rides in the URL's fragment, which
// the browser never sends to a server), and how to make more. On a terminal only: when stdout is
// not one (a service manager's journal, a redirect to a log file), the token goes to a 0600 file
// instead and only the file's name is printed.
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { CreatedApiToken } from './api-tokens.js';

export const FIRST_TOKEN_FILE = 'first-admin-token';

export interface FirstRunOptions {
  /** The dashboard's address, e.g. http://127.0.0.1:3000/dashboard/ */
  dashboardUrl: string;
  /** Whether stdout is a terminal (a person reads it, nothing keeps it). */
  terminal: boolean;
  /** Where the token file goes when stdout is not a terminal. */
  dataDir: string;
}

export function signInLink(dashboardUrl: string, token: string): string {
  return `${dashboardUrl}#token=${encodeURIComponent(token)}`;
}

/** The lines to print; writes the token file when stdout is not a terminal. */
export async function firstRunNotice(created: CreatedApiToken, { dashboardUrl, terminal, dataDir }: FirstRunOptions): Promise<string[]> {
  const more = 'More tokens: npm run token -- create --name bob --role approver (requester, approver or admin)';
  if (terminal) {
    return [
      `First start: an admin token was made for you (shown this once; the database keeps only its hash):`,
      `  ${created.token}`,
      `  Sign in: ${signInLink(dashboardUrl, created.token)}`,
      `  ${more}`,
    ];
  }
  const file = path.join(dataDir, FIRST_TOKEN_FILE);
  await writeFile(file, `${created.token}\n${signInLink(dashboardUrl, created.token)}\n`, { mode: 0o600, flag: 'wx' });
  return [
    `First start: an admin token was made for you; stdout is not a terminal, so it is in ${file} (mode 0600), not here.`,
    `  Read it, sign in, then delete the file. ${more}`,
  ];
}

// What can go wrong, and the exit code each kind of failure gives (README: Command line).
//   0 done or accepted · 1 failed, rejected or an API error · 2 usage · 3 authentication or permission

export const EXIT = { ok: 0, failed: 1, usage: 2, auth: 3 } as const;
export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

/** A failure the CLI reports as one line, `chiffon: <message>`, and exits with `exitCode`. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: ExitCode = EXIT.failed,
  ) {
    super(message);
  }
}

/** The command line does not make sense; the usage line goes with it. */
export class UsageError extends CliError {
  constructor(
    message: string,
    readonly usage: string,
  ) {
    super(message, EXIT.usage);
  }
}

/** An answer `{"error": {"code", "message"}}` (or any non-2xx status) from the API. */
export class ApiError extends CliError {
  constructor(
    readonly status: number,
    readonly code: string,
    detail: string,
  ) {
    // 401 (no valid token) and 403 (a role that may not, four-eyes) are the person's to fix: exit 3.
    super(`${code}: ${oneLine(detail)}`, status === 401 || status === 403 ? EXIT.auth : EXIT.failed);
  }
}

/** The API could not be reached at all (refused, reset, DNS, timeout). */
export class UnreachableError extends CliError {
  constructor(
    readonly url: string,
    readonly reason: string,
  ) {
    super(`cannot reach ${url}: ${oneLine(reason)}`, EXIT.failed);
  }
}

/** Errors span one line on stderr, whatever the server put in them. */
export function oneLine(text: string): string {
  return text.replace(/\s+/g, ' ').trim();
}

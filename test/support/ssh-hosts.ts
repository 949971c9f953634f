// SSH "hosts" for end-to-end tests: real OpenSSH servers (Debian's openssh-server, which
// `scripts/setup.sh --with-test-hosts` installs for `npm test`), each an sshd process of its own on a
// loopback address of its own (127.0.0.2, 127.0.0.3, ...) and a port below the ephemeral range
// (lib/ports.ts), with its own config file, ed25519 host key and PidFile in a temporary folder.
// Key-only auth: the client key is generated per run, and only it is authorized (AuthorizedKeysFile
// points at the run's own file, so two runs never overwrite each other's keys). The login user is a
// non-root account created once (useradd -m, unlocked with `usermod -p '*'`: sshd refuses a locked
// account even for key auth) with passwordless sudo through /etc/sudoers.d, checked with visudo -cf.
// A second user, whose sudo asks for a password, is there for the tests of become passwords.
//
// Host key checking is the playbook repository's business, as in real use: ansibleCfg() is the text
// of an ansible.cfg (host_key_checking = True, ssh_args naming the run's known_hosts file) for the
// test's copy of the repository; Chiffon's code passes nothing SSH-specific.
//
// Every sshd is stopped by stop() (afterAll) and, should the test process exit without it, by an
// exit hook: by its PidFile, with the sessions it forked (those are in process groups of their own).
// A test process killed outright runs no hook: sshd then gets SIGTERM from the kernel (setpriv
// --pdeathsig), and its sessions end with the ansible connections they serve.
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import YAML from 'yaml';
import { describe, it } from 'vitest';
import { fromProjectRoot } from '../../lib/paths.js';
import { startOnFreePorts } from '../../lib/ports.js';
import { descendantsOf, startProcess, waitFor, type ManagedProcess } from './processes.js';

/** The non-root login user of the SSH hosts, with passwordless sudo. */
export const SSH_LOGIN_USER = 'chiffon-ssh';
/** A second login user whose sudo needs its password (set per run with chpasswd). */
export const SSH_PASSWORD_SUDO_USER = 'chiffon-ssh-pw';
const SUDOERS_FILES: Record<string, string> = {
  [SSH_LOGIN_USER]: '/etc/sudoers.d/chiffon-test-hosts',
  [SSH_PASSWORD_SUDO_USER]: '/etc/sudoers.d/chiffon-test-hosts-password',
};
const START_TIMEOUT_MS = 15_000;
const STOP_TIMEOUT_MS = 10_000;

export const IN_CI = /^(1|true|yes)$/i.test(process.env.CI ?? '');

function executable(file: string): boolean {
  try {
    fs.accessSync(file, fs.constants.X_OK);
    return fs.statSync(file).isFile();
  } catch {
    return false;
  }
}

/** A program in /usr/sbin, /usr/bin or on the PATH (sshd and visudo live in /usr/sbin, often not on a user's PATH). */
function findProgram(name: string): string | undefined {
  const dirs = ['/usr/sbin', '/usr/bin', '/sbin', '/bin', ...(process.env.PATH ?? '').split(path.delimiter).filter(Boolean)];
  return dirs.map((dir) => path.join(dir, name)).find(executable);
}

/** Why SSH test hosts cannot run here, or undefined when they can. */
export function sshHostsUnavailable(): string | undefined {
  if (process.getuid?.() !== 0) {
    return `the SSH test hosts need root (sshd logs users in, useradd and /etc/sudoers.d); this test runs as uid ${process.getuid?.()}`;
  }
  const needed = ['sshd', 'ssh', 'ssh-keygen', 'sudo', 'visudo', 'useradd', 'usermod', 'chpasswd', 'runuser'];
  const missing = needed.filter((name) => !findProgram(name));
  if (missing.length > 0) {
    return `no ${missing.join(', ')}: install Debian's openssh-server and sudo (npm test runs scripts/setup.sh --with-test-hosts, which does when it can run apt-get as root)`;
  }
  return undefined;
}

/**
 * describe() when SSH test hosts can run here. Otherwise: under CI=true a failing test that says
 * why; elsewhere the block is skipped with a warning.
 */
export function describeWithSshHosts(name: string, body: () => void): void {
  const reason = sshHostsUnavailable();
  if (!reason) {
    describe(name, body);
  } else if (IN_CI) {
    describe(name, () => {
      it('has SSH test hosts (CI)', () => {
        throw new Error(`SSH test hosts are required under CI=true: ${reason}`);
      });
    });
  } else {
    console.warn(`\n!!! SKIPPING ${JSON.stringify(name)}: ${reason} !!!\n`);
    describe.skip(name, body);
  }
}

function run(program: string, args: string[], input?: string): string {
  return execFileSync(findProgram(program) ?? program, args, {
    encoding: 'utf8',
    stdio: ['pipe', 'pipe', 'pipe'],
    ...(input !== undefined ? { input } : {}),
  });
}

function userExists(user: string): boolean {
  try {
    run('id', ['-u', user]);
    return true;
  } catch {
    return false;
  }
}

export function uidOf(user: string): number {
  return Number(run('id', ['-u', user]).trim());
}

/** Creates `user` if it is missing (useradd -m); a concurrent creation by another run is fine. */
function ensureUser(user: string): void {
  if (userExists(user)) return;
  try {
    run('useradd', ['-m', '-s', '/bin/bash', '-c', 'Chiffon SSH test hosts', user]);
  } catch (error) {
    if (!userExists(user)) throw error;
  }
}

/** Installs a sudoers rule file when its content differs, checked by visudo -cf first, replaced atomically. */
function installSudoers(file: string, content: string): void {
  if (fs.existsSync(file) && fs.readFileSync(file, 'utf8') === content) return;
  // Not under /etc/sudoers.d while it is written: sudo reads every file there (except names with a dot).
  const draft = path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.tmp`);
  fs.writeFileSync(draft, content, { mode: 0o440 });
  try {
    run('visudo', ['-cf', draft]);
    fs.renameSync(draft, file);
  } finally {
    fs.rmSync(draft, { force: true });
  }
}

/** The login user with passwordless sudo (created once, unlocked every time: `*` is no password, not a lock). */
export function ensureLoginUser(): void {
  ensureUser(SSH_LOGIN_USER);
  run('usermod', ['-p', '*', SSH_LOGIN_USER]);
  installSudoers(
    SUDOERS_FILES[SSH_LOGIN_USER]!,
    `# Chiffon's SSH test hosts (test/support/ssh-hosts.ts)\n${SSH_LOGIN_USER} ALL=(ALL:ALL) NOPASSWD: ALL\n`,
  );
}

/** The login user whose sudo asks for its password; sets that password (chpasswd) and returns it. */
export function ensurePasswordSudoUser(): string {
  ensureUser(SSH_PASSWORD_SUDO_USER);
  const password = `chiffon-become-${randomBytes(12).toString('hex')}`;
  run('chpasswd', [], `${SSH_PASSWORD_SUDO_USER}:${password}\n`);
  installSudoers(
    SUDOERS_FILES[SSH_PASSWORD_SUDO_USER]!,
    `# Chiffon's SSH test hosts (test/support/ssh-hosts.ts): sudo asks for the password\n${SSH_PASSWORD_SUDO_USER} ALL=(ALL:ALL) ALL\n`,
  );
  return password;
}

/** The python ansible's modules run with on the "remote" side: one the login user can execute. */
export function remotePython(user = SSH_LOGIN_USER): string {
  const venvPython = fromProjectRoot('.tools', 'venv', 'bin', 'python3');
  for (const candidate of ['/usr/bin/python3', venvPython]) {
    try {
      run('runuser', ['-u', user, '--', candidate, '-c', 'import sys; sys.exit(0 if sys.version_info >= (3, 8) else 1)']);
      return candidate;
    } catch {
      // not there, or not usable by that user
    }
  }
  throw new Error(`no python3 that ${user} can run (looked for /usr/bin/python3 and ${venvPython})`);
}

export interface SshHost {
  /** The inventory name the helpers give it: ssh-1, ssh-2, ... */
  readonly name: string;
  /** Its loopback address: 127.0.0.2, 127.0.0.3, ... */
  readonly address: string;
  readonly port: number;
  readonly configFile: string;
  readonly pidFile: string;
  readonly logFile: string;
  /** `ssh-ed25519 AAAA...` of the key it serves now. */
  publicHostKey(): string;
  isRunning(): boolean;
  /** Stops the sshd (by its PidFile) and every session it forked; a no-op when stopped. */
  stop(): Promise<void>;
  /** Starts it again on the same address and port. */
  start(): Promise<void>;
  /** stop(), then start(). */
  restart(): Promise<void>;
  /** A new host key (ssh-keygen), served from now on (restarts it if it runs). known_hosts is left as it was. */
  regenerateHostKey(): Promise<void>;
}

export interface SshHosts {
  /** The run's folder (host keys, configs, the client key, known_hosts), removed by stop(). */
  readonly dir: string;
  readonly hosts: SshHost[];
  /** The login user with passwordless sudo. */
  readonly user: string;
  /** The private key the tests log in with (ed25519, no passphrase), authorized on every host. */
  readonly clientKey: string;
  /** What the ansible.cfg of ansibleCfg() names as UserKnownHostsFile. */
  readonly knownHostsFile: string;
  /** The python the inventory gives ansible for the remote side. */
  readonly python: string;
  /** Rewrites known_hosts with the keys the hosts serve now. */
  trustHostKeys(): void;
  /** The connection vars of one host: ansible_host, ansible_port, ansible_user, ansible_ssh_private_key_file, ansible_python_interpreter */
  hostVars(host: SshHost, user?: string): Record<string, string | number>;
  /**
   * An inventory (YAML) of groups of these hosts: `{homelab: [hosts[0]], pair: [hosts[0], hosts[1]]}`.
   * A group member may be `{host, vars}` for vars of its own (`chiffon_agent`, another `ansible_user`).
   */
  inventory(
    groups: Record<string, (SshHost | { host: SshHost; vars: Record<string, unknown> })[]>,
    extra?: Record<string, unknown>,
  ): string;
  /** An ansible.cfg for the playbook repository: host_key_checking = True against knownHostsFile. */
  ansibleCfg(): string;
  /** A fresh folder every login user may write to (the playbooks' chiffon_state_dir is on the "remote" side). */
  sharedStateDir(name: string): string;
  /** Stops every sshd and removes the run's folder. */
  stop(): Promise<void>;
}

const runningHosts = new Set<{ pidFile: string; process: ManagedProcess | undefined }>();
let exitHookInstalled = false;

function pidFromFile(pidFile: string): number | undefined {
  try {
    const pid = Number(fs.readFileSync(pidFile, 'utf8').trim());
    return Number.isInteger(pid) && pid > 1 ? pid : undefined;
  } catch {
    return undefined;
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function kill(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal);
  } catch {
    // already gone
  }
}

/** Should the test process exit without stop() (a timeout, a crash), no sshd or session of it stays. */
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once('exit', () => {
    for (const entry of runningHosts) {
      const pid = pidFromFile(entry.pidFile) ?? entry.process?.pid;
      if (pid === undefined) continue;
      for (const child of descendantsOf(pid)) kill(child.pid, 'SIGKILL');
      kill(pid, 'SIGKILL');
    }
  });
}

function generateKey(file: string, comment: string): void {
  fs.rmSync(file, { force: true });
  fs.rmSync(`${file}.pub`, { force: true });
  run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', comment, '-f', file]);
}

function sshdConfig(options: { address: string; port: number; hostKey: string; pidFile: string; authorizedKeys: string }): string {
  return [
    `# ${options.address}:${options.port}, written by test/support/ssh-hosts.ts`,
    `ListenAddress ${options.address}:${options.port}`,
    `HostKey ${options.hostKey}`,
    `PidFile ${options.pidFile}`,
    `AuthorizedKeysFile ${options.authorizedKeys}`,
    'PasswordAuthentication no',
    'KbdInteractiveAuthentication no',
    'PubkeyAuthentication yes',
    'PermitRootLogin no',
    `AllowUsers ${SSH_LOGIN_USER} ${SSH_PASSWORD_SUDO_USER}`,
    'UsePAM no',
    // The run's folder is in /tmp, owned by root: sshd's ownership checks would refuse it.
    'StrictModes no',
    'Subsystem sftp internal-sftp',
    'LogLevel VERBOSE',
    '',
  ].join('\n');
}

class Host implements SshHost {
  process: ManagedProcess | undefined;
  private readonly entry: { pidFile: string; process: ManagedProcess | undefined };
  readonly configFile: string;
  readonly pidFile: string;
  readonly logFile: string;
  readonly hostKey: string;
  port = 0;

  constructor(
    readonly name: string,
    readonly address: string,
    dir: string,
    private readonly authorizedKeys: string,
  ) {
    fs.mkdirSync(dir, { recursive: true });
    this.configFile = path.join(dir, 'sshd_config');
    this.pidFile = path.join(dir, 'sshd.pid');
    this.logFile = path.join(dir, 'sshd.log');
    this.hostKey = path.join(dir, 'ssh_host_ed25519_key');
    this.entry = { pidFile: this.pidFile, process: undefined };
    generateKey(this.hostKey, `${name}-host-key`);
  }

  publicHostKey(): string {
    return fs.readFileSync(`${this.hostKey}.pub`, 'utf8').trim().split(/\s+/).slice(0, 2).join(' ');
  }

  isRunning(): boolean {
    return this.process?.isRunning() ?? false;
  }

  /** Starts sshd on `port` in the foreground (-D), its log (-e) in sshd.log; ready once the PidFile names it. */
  async startOn(port: number): Promise<void> {
    if (this.isRunning()) throw new Error(`${this.name}: sshd already runs`);
    this.port = port;
    fs.writeFileSync(
      this.configFile,
      sshdConfig({ address: this.address, port, hostKey: this.hostKey, pidFile: this.pidFile, authorizedKeys: this.authorizedKeys }),
    );
    fs.rmSync(this.pidFile, { force: true });
    fs.writeFileSync(this.logFile, `--- start on ${this.address}:${port}\n`, { flag: 'a' });
    // sshd's privilege separation directory, which Debian's service would create.
    fs.mkdirSync('/run/sshd', { recursive: true, mode: 0o755 });
    // Foreground (-D), so a bind error is its exit; under `setpriv --pdeathsig` (util-linux) where there
    // is one, so it goes even when this process is SIGKILLed and no exit hook runs.
    const sshdArgs = [findProgram('sshd') ?? '/usr/sbin/sshd', '-D', '-e', '-f', this.configFile];
    const setpriv = findProgram('setpriv');
    const [command, ...args] = setpriv ? [setpriv, '--pdeathsig', 'SIGTERM', ...sshdArgs] : sshdArgs;
    const sshd = startProcess(`sshd ${this.name}`, command!, args, {
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin' },
      logFile: this.logFile,
    });
    this.process = sshd;
    this.entry.process = sshd;
    runningHosts.add(this.entry);
    installExitHook();
    try {
      await waitFor(
        `sshd ${this.name} on ${this.address}:${port}`,
        () => {
          // A bind error ("Address already in use") ends it: the message goes to startOnFreePorts.
          if (!sshd.isRunning()) throw new Error(`sshd ${this.name} exited: ${sshd.logTail(2_000)}`);
          return pidFromFile(this.pidFile) === sshd.pid || undefined;
        },
        START_TIMEOUT_MS,
        50,
      );
    } catch (error) {
      await sshd.kill();
      runningHosts.delete(this.entry);
      this.process = undefined;
      // waitFor wraps the probe's error: keep the log (and so the bind error) in the message.
      throw new Error(`${error instanceof Error ? error.message : String(error)}\n${sshd.logTail(2_000)}`, { cause: error });
    }
  }

  async start(): Promise<void> {
    await this.startOn(this.port);
  }

  async restart(): Promise<void> {
    await this.stop();
    await this.start();
  }

  async stop(): Promise<void> {
    const sshd = this.process;
    if (!sshd) return;
    const pid = pidFromFile(this.pidFile) ?? sshd.pid;
    // The sessions (and so ansible's connections) go with it: they are in process groups of their own.
    const sessions = descendantsOf(pid);
    kill(pid, 'SIGTERM');
    for (const session of sessions) kill(session.pid, 'SIGKILL');
    const stopped = await Promise.race([
      sshd.exited.then(() => true),
      new Promise<boolean>((resolve) => setTimeout(() => resolve(false), STOP_TIMEOUT_MS)),
    ]);
    if (!stopped) kill(pid, 'SIGKILL');
    await sshd.kill();
    for (const session of descendantsOf(pid)) kill(session.pid, 'SIGKILL');
    await waitFor(
      `the sessions of sshd ${this.name} to end`,
      () => sessions.every((s) => !alive(s.pid) || isZombie(s.pid)) || undefined,
      STOP_TIMEOUT_MS,
      50,
    );
    runningHosts.delete(this.entry);
    this.process = undefined;
    fs.rmSync(this.pidFile, { force: true });
  }

  async regenerateHostKey(): Promise<void> {
    const wasRunning = this.isRunning();
    if (wasRunning) await this.stop();
    generateKey(this.hostKey, `${this.name}-host-key-${Date.now()}`);
    if (wasRunning) await this.start();
  }
}

function isZombie(pid: number): boolean {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z');
  } catch {
    return true;
  }
}

/**
 * Starts `count` SSH hosts (127.0.0.2, 127.0.0.3, ...), each on a free port (a start that fails on a
 * bind error is retried on another), makes sure the login user exists with passwordless sudo, and
 * writes known_hosts with their keys.
 */
export async function startSshHosts(count: number): Promise<SshHosts> {
  if (count < 1 || count > 250) throw new Error(`cannot start ${count} SSH hosts`);
  ensureLoginUser();
  const python = remotePython();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'chiffon-ssh-hosts-'));
  // The login users read authorized_keys (sshd reads it as them) and write the shared state folders.
  fs.chmodSync(dir, 0o755);
  const clientKey = path.join(dir, 'client_ed25519');
  generateKey(clientKey, 'chiffon-test-client');
  const authorizedKeys = path.join(dir, 'authorized_keys');
  fs.writeFileSync(authorizedKeys, `${fs.readFileSync(`${clientKey}.pub`, 'utf8').trim()}\n`, { mode: 0o644 });
  const knownHostsFile = path.join(dir, 'known_hosts');

  const hosts: Host[] = [];
  const stopAllHosts = async () => {
    await Promise.all(hosts.map((h) => h.stop()));
  };
  try {
    for (let i = 0; i < count; i++) {
      const host = new Host(`ssh-${i + 1}`, `127.0.0.${i + 2}`, path.join(dir, `host-${i + 1}`), authorizedKeys);
      hosts.push(host);
      await startOnFreePorts(1, ([port]) => host.startOn(port!), host.address);
    }
  } catch (error) {
    await stopAllHosts();
    fs.rmSync(dir, { recursive: true, force: true });
    throw error;
  }

  let stateDirs = 0;
  const ssh: SshHosts = {
    dir,
    hosts,
    user: SSH_LOGIN_USER,
    clientKey,
    knownHostsFile,
    python,
    trustHostKeys() {
      const lines = hosts.map((h) => `[${h.address}]:${h.port} ${h.publicHostKey()}`);
      fs.writeFileSync(knownHostsFile, `${lines.join('\n')}\n`, { mode: 0o644 });
    },
    hostVars(host, user = SSH_LOGIN_USER) {
      return {
        ansible_host: host.address,
        ansible_port: host.port,
        ansible_user: user,
        ansible_ssh_private_key_file: clientKey,
        ansible_python_interpreter: python,
      };
    },
    inventory(groups, extra = {}) {
      // Each host's vars once, under all.hosts (a host's vars merge across its groups in Ansible anyway).
      const allHosts: Record<string, Record<string, unknown>> = {};
      const children: Record<string, { hosts: Record<string, null> }> = {};
      for (const [group, members] of Object.entries(groups)) {
        children[group] = { hosts: {} };
        for (const member of members) {
          const { host, vars } = 'host' in member ? member : { host: member, vars: {} };
          allHosts[host.name] = { ...(allHosts[host.name] ?? ssh.hostVars(host)), ...vars };
          children[group]!.hosts[host.name] = null;
        }
      }
      return `---\n# SSH test hosts (test/support/ssh-hosts.ts)\n${YAML.stringify({ all: { hosts: allHosts, children: { ...children, ...extra } } })}`;
    },
    ansibleCfg() {
      return [
        "# SSH test hosts (test/support/ssh-hosts.ts): host keys are checked against the run's known_hosts.",
        '[defaults]',
        'host_key_checking = True',
        '',
        '[ssh_connection]',
        // No ControlMaster: every connection meets the server (and its host key) afresh.
        `ssh_args = -o UserKnownHostsFile=${knownHostsFile} -o ControlMaster=no -o ConnectTimeout=10`,
        'pipelining = True',
        '',
      ].join('\n');
    },
    sharedStateDir(name) {
      const stateDir = path.join(dir, `state-${++stateDirs}-${name}`);
      fs.mkdirSync(stateDir);
      fs.chmodSync(stateDir, 0o777);
      return stateDir;
    },
    async stop() {
      await stopAllHosts();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
  ssh.trustHostKeys();
  return ssh;
}

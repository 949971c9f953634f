// The live gate: a test playbook whose step runs, a real ansible-playbook, until the test opens the
// gate, so that a test acts while a step is mid-run: it reads the live output, restarts the API
// under a follower, or keeps the step's agent busy. "Run the live gate" plans it (service
// `livegate`). Its tasks, in order:
//   Create the gate directory      (changed) <chiffon_state_dir>/live-gate
//   Wait until the gate opens      (ok)      until live-gate/open exists; fails after waitSeconds
//   Record that the step finished  (changed) writes live-gate/done
import fs from 'node:fs';
import path from 'node:path';

/** The task during which the step waits at the gate. */
export const LIVE_GATE_WAIT_TASK = 'Wait until the gate opens';

export interface LiveGateOptions {
  /** The play's hosts (default `homelab`, the sample inventory's group). */
  hosts?: string;
  /** How long the step waits for the gate before it fails (default 60 s). */
  waitSeconds?: number;
}

/** live-gate.yml and its metadata, as extra files for playbookRepoCopy. */
export function liveGateFiles({ hosts = 'homelab', waitSeconds = 60 }: LiveGateOptions = {}): Record<string, string> {
  const playbook = `---
- name: Wait at the live gate
  hosts: ${hosts}
  gather_facts: false
  tasks:
    - name: Create the gate directory
      ansible.builtin.file:
        path: "{{ chiffon_state_dir }}/live-gate"
        state: directory
        mode: "0755"

    - name: ${LIVE_GATE_WAIT_TASK}
      ansible.builtin.shell: |
        for tick in $(seq 1 ${Math.ceil(waitSeconds * 5)}); do
          if [ -e {{ (chiffon_state_dir ~ '/live-gate/open') | quote }} ]; then exit 0; fi
          sleep 0.2
        done
        echo "the gate never opened" >&2
        exit 1
      changed_when: false

    - name: Record that the step finished
      ansible.builtin.shell: date > {{ (chiffon_state_dir ~ '/live-gate/done') | quote }}
      changed_when: true
`;
  const meta = `---
short_description: Wait at the live gate
description: Waits until live-gate/open exists, then writes live-gate/done (tests).
argument_specs:
  main:
    short_description: Wait at the live gate
    description:
      - Waits until live-gate/open exists under chiffon_state_dir, then writes live-gate/done.
    options: {}
    chiffon:
      service: livegate
      aliases: [live gate]
      intents:
        - name: run_live_gate
          verbs: [run]
          objects: []
      after: []
      vars_from_inventory: {}
`;
  return { 'live-gate.yml': playbook, 'live-gate.meta.yml': meta };
}

/** The gate of the steps that run with `stateDir` as their chiffon_state_dir (a stack's config.stateDir). */
export function liveGate(stateDir: string) {
  const dir = path.join(stateDir, 'live-gate');
  const open = path.join(dir, 'open');
  const done = path.join(dir, 'done');
  return {
    dir,
    /** Lets a waiting step go on (and any step that reaches the gate from now on). */
    open(): void {
      fs.mkdirSync(dir, { recursive: true });
      fs.writeFileSync(open, '');
    },
    /** Closes the gate again and forgets the last step's end, for the next step. */
    reset(): void {
      fs.rmSync(open, { force: true });
      fs.rmSync(done, { force: true });
    },
    isOpen: (): boolean => fs.existsSync(open),
    /** Whether a step went through the gate and finished. */
    isDone: (): boolean => fs.existsSync(done),
  };
}

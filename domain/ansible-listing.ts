// Reads what `ansible-playbook --list-hosts --list-tasks` prints: Ansible's own view of a run, with
// roles, imports, tags and the limit resolved as at run time. Pure.
//
//   playbook: site.yml
//
//     play #1 (homelab): Homelab services	TAGS: []
//       pattern: ['homelab']
//       hosts (1):
//         nas
//       tasks:
//         sonarr : Create the sonarr folder	TAGS: [sonarr]
import type { StepPreview } from './types.js';

export interface ListedPlay {
  name: string;
  hosts: string[];
  tasks: StepPreview['tasks'];
}

const PLAY = /^\s*play #\d+ \(([^)]*)\):\s*(.*?)\s*TAGS: \[(.*)\]\s*$/;
const HOSTS = /^\s*hosts \((\d+)\):\s*$/;
const TASKS = /^\s*tasks:\s*$/;
const TASK = /^\s*(.*?)\s*TAGS: \[(.*)\]\s*$/;

function tagList(text: string): string[] {
  return text
    .split(',')
    .map((t) => t.trim())
    .filter(Boolean);
}

export function parseListing(stdout: string): ListedPlay[] {
  const plays: ListedPlay[] = [];
  let section: 'none' | 'hosts' | 'tasks' = 'none';
  for (const line of stdout.split('\n')) {
    if (!line.trim()) continue;
    const play = PLAY.exec(line);
    if (play) {
      plays.push({ name: play[2]?.trim() || play[1]!.trim(), hosts: [], tasks: [] });
      section = 'none';
      continue;
    }
    const current = plays[plays.length - 1];
    if (!current) continue;
    if (HOSTS.test(line)) {
      section = 'hosts';
      continue;
    }
    if (TASKS.test(line)) {
      section = 'tasks';
      continue;
    }
    if (/^\s*pattern:/.test(line)) continue;
    if (section === 'hosts') {
      current.hosts.push(line.trim());
    } else if (section === 'tasks') {
      const task = TASK.exec(line);
      if (!task) continue;
      const full = task[1]!;
      // "role : task name" for a role's task; a task of the play itself has no role prefix.
      const at = full.indexOf(' : ');
      const tags = tagList(task[2]!);
      current.tasks.push(
        at > 0
          ? { play: current.name, role: full.slice(0, at).trim(), name: full.slice(at + 3).trim(), tags }
          : { play: current.name, name: full.trim(), tags },
      );
    }
  }
  return plays;
}

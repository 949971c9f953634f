// A separate worker process for test/integration/audit-lock.test.ts: audits `count` tasks of one
// request into the given audit repository, all at once, through the real auditTask activity.
//   tsx test/support/audit-writer.ts <database url> <audit repo> <request id> <task prefix> <count>
import { createAuditActivities } from '../../activities/audit.js';
import { loadConfig } from '../../lib/config.js';
import { createPrismaClient } from '../../lib/prisma.js';

async function run(): Promise<void> {
  const [url, auditRepo, requestId, prefix, count] = process.argv.slice(2);
  if (!url || !auditRepo || !requestId || !prefix || !count)
    throw new Error('usage: audit-writer <database url> <audit repo> <request id> <task prefix> <count>');
  const prisma = createPrismaClient(url);
  try {
    const { auditTask } = createAuditActivities({ ...loadConfig({}), auditRepo }, prisma);
    await Promise.all(
      Array.from({ length: Number(count) }, (_, i) =>
        auditTask({
          requestId,
          planId: 'plan-audit-lock',
          step: { index: i, taskId: `${prefix}-${i}`, playbook: 'note.yml' },
          attempt: 1,
          status: 'skipped',
          outcome: `written by ${prefix}`,
        }),
      ),
    );
  } finally {
    await prisma.$disconnect();
  }
}

run().catch((err) => {
  console.error(err);
  process.exit(1);
});

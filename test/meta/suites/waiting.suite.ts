// Waits long enough to be killed mid-run (exit-code.test.ts SIGKILLs the vitest process running it).
import { it } from 'vitest';

it('waits', async () => {
  await new Promise((resolve) => setTimeout(resolve, 60_000));
}, 90_000);

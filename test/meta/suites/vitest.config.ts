// The project's vitest configuration (global setup included) over the small suites in this folder,
// for exit-code.test.ts: `npm test -- --config test/meta/suites/vitest.config.ts NAME`.
import { defineConfig } from 'vitest/config';
import base from '../../../vitest.config.js';
import { fromProjectRoot } from '../../../lib/paths.js';

export default defineConfig({
  ...base,
  root: fromProjectRoot(),
  test: { ...base.test, include: ['test/meta/suites/*.suite.ts'] },
});

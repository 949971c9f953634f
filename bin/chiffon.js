#!/usr/bin/env node
// The `chiffon` command (package.json "bin"): the CLI is TypeScript, run through tsx's loader.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../cli/main.ts');
await main();

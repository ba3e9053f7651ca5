// Loaded by `npm test` before the tests: the host's imports resolve to the fake host.
import { register } from 'node:module';

register('./resolve-host.mjs', import.meta.url);

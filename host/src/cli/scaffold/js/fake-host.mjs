// The host calls the plugin makes, faked for unit tests: settings the test sets, a clock
// that stands still, log lines kept. Add what your plugin imports.
export const settings = new Map();

export function get(key) {
  return settings.get(key);
}

export function all() {
  return [...settings.entries()].sort();
}

export const logs = [];

export function write(level, message) {
  logs.push([level, message]);
}

export function now() {
  return 1767225600000n;
}

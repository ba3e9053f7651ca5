// Resolves every `outreach:plugin/...` import to test/fake-host.mjs; anything else as usual.
export async function resolve(specifier, context, next) {
  if (specifier.startsWith('outreach:plugin/')) {
    return { url: new URL('./fake-host.mjs', import.meta.url).href, shortCircuit: true };
  }
  return next(specifier, context);
}

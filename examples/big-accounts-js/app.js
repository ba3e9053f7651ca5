// big-accounts-js: keeps leads with at least `min_followers` followers.
import { get } from 'outreach:plugin/settings@0.2.0';

// Counts as people write them: "800", "12,400", "3.2k", "1.5M".
function count(raw) {
  let text = raw.trim().toLowerCase();
  let scale = 1;
  if (text.endsWith('k')) { text = text.slice(0, -1).replace(',', '.'); scale = 1e3; }
  else if (text.endsWith('m')) { text = text.slice(0, -1).replace(',', '.'); scale = 1e6; }
  else { text = text.replaceAll(',', ''); }
  const value = Number(text) * scale;
  return Number.isFinite(value) && value >= 0 && text !== '' ? value : null;
}

export const hooks = {
  manifest() {
    return {
      name: 'big-accounts-js',
      version: '0.1.0',
      description: 'Keeps leads with many followers (JavaScript).',
      hooks: ['filter'],
      permissions: ['leads:read-pii'],
    };
  },
  filter(lead) {
    const minimum = Number(get('min_followers') ?? '1000');
    const fields = new Map(lead.customFields.map(([k, v]) => [k.toLowerCase(), v]));
    const followers = count(fields.get('followers') ?? '') ?? 0;
    return {
      keep: followers >= minimum,
      reason: `${followers} followers, minimum ${minimum}`,
      tags: [],
      score: undefined,
    };
  },
  reply(event) { throw { tag: 'unavailable', val: 'no reply hook' }; },
  followUp(event) { throw { tag: 'unavailable', val: 'no follow-up hook' }; },
};

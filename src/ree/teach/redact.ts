/**
 * Last line of defence before an event leaves for the page. Components already trace only what each
 * world may see; this drops any detail field whose name says it is a secret (PIN, PUK, private or
 * secret key, channel/session/traffic keys) in every lane, and in the REE lane keeps only plain
 * public values. It never adds anything.
 */
import type { TraceEvent } from '../../common/trace.js';

const SECRET_NAME = /(^|[^a-z])(pin|puk)([^a-z]|$)|pin$|puk$|secret|private|channel.?key|session.?key|traffic|master|seed/i;
const PUK_TEXT = /(PUK[^0-9]{0,20})[0-9]{6,}/g;

export function redactEvent<E extends TraceEvent>(event: E): E {
  const text = event.text.replace(PUK_TEXT, '$1[shown to the user only]');
  if (!event.detail) return { ...event, text };
  const detail: Record<string, string | number | boolean> = {};
  for (const [key, value] of Object.entries(event.detail)) {
    if (SECRET_NAME.test(key) && !/status|tries|left|set|blocked|required/i.test(key)) {
      detail[key] = '[withheld]';
      continue;
    }
    detail[key] = typeof value === 'string' ? value.replace(PUK_TEXT, '$1[shown to the user only]') : value;
  }
  return { ...event, text, detail };
}

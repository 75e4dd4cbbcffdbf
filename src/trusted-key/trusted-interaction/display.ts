/**
 * Laying out confirmation text for the trusted UI's screen (at most 12 lines of 80 characters). The
 * text itself is what gets signed; the layout only breaks it at spaces (or, for a word longer than a
 * line, inside the word), so the lines joined back in order show every character of it.
 */
import { TeeError } from '../../common/errors.js';

export const SCREEN_LINE_CHARS = 80;
export const SCREEN_LINES = 12;

export function layoutLines(text: string, width = SCREEN_LINE_CHARS, maxLines = SCREEN_LINES): string[] {
  const lines: string[] = [];
  let current = '';
  for (const word of text.split(' ')) {
    let w = word;
    while (w.length > width) {
      if (current) {
        lines.push(current);
        current = '';
      }
      lines.push(w.slice(0, width));
      w = w.slice(width);
    }
    if (!current) current = w;
    else if (current.length + 1 + w.length <= width) current += ` ${w}`;
    else {
      lines.push(current);
      current = w;
    }
  }
  if (current) lines.push(current);
  if (lines.length > maxLines) throw new TeeError('BAD_PARAMETERS', 'trusted UI: text does not fit on the screen', 'TRUSTED_KEY');
  return lines;
}

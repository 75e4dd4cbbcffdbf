/** The trusted key's user interaction: confirmations on the trusted UI, PIN and PUK. */
export {
  TrustedInteraction,
  DEFAULT_PIN_TRIES,
  DEFAULT_PUK_TRIES,
  PUK_DIGITS,
  USER_TIMEOUT_MS,
  type ConfirmOptions,
  type PinStatus,
  type TrustedInteractionOptions,
  type TrustedUiPort,
} from './interaction.js';
export { layoutLines, SCREEN_LINE_CHARS, SCREEN_LINES } from './display.js';

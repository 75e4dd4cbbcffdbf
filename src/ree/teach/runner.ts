/**
 * Runs one payment for the teaching page. Until the demo world lands this serves the stand-in story.
 */
import type { ScenarioRunner } from './server.js';
import { sampleRunner } from './sample.js';

export interface TeachRunner {
  run: ScenarioRunner;
  /** The secrets of the simulated users (PINs, key bytes as hex) so tests can scan for them; never served. */
  secrets(): string[];
  close(): Promise<void>;
}

export async function createTeachRunner(_options: { dataDir?: string } = {}): Promise<TeachRunner> {
  return { run: sampleRunner, secrets: () => ['1234'], close: async () => undefined };
}

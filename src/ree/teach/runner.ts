/**
 * Runs one payment for the teaching page. Until the demo world lands this serves the stand-in story.
 */
import type { ScenarioRunner } from './server.js';
import { sampleRunner } from './sample.js';

export interface TeachRunner {
  run: ScenarioRunner;
  close(): Promise<void>;
}

export async function createTeachRunner(_options: { dataDir?: string } = {}): Promise<TeachRunner> {
  return { run: sampleRunner, close: async () => undefined };
}

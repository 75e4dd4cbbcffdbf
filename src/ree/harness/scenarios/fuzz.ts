export const fuzzScenarios = [] as import('../scenario.js').Scenario[];

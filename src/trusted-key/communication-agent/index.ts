/** The trusted key's channel endpoint: identity, (re)connection, command handlers, requests to the TEE OS. */
export {
  CommunicationAgent,
  DEFAULT_RETRY,
  DEFAULT_REQUEST_WAIT_MS,
  type AgentIdentity,
  type AgentStatus,
  type CommandHandler,
  type CommandOrigin,
  type CommunicationAgentOptions,
  type RetryPolicy,
  type TransportFactory,
} from './agent.js';

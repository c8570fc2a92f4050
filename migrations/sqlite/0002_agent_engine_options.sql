-- Engine call settings of a voice agent that have no column of their own
-- (answer delay, response timeout, fallback line, …): a JSON object, NULL
-- for the engine's defaults. See admin/src/store/agents.rs.
ALTER TABLE voice_agents ADD COLUMN engine_options TEXT;

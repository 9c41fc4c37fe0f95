"""The live call as a sans-I/O state machine: channels, session, wire protocol, utterances."""

// `goldfinch serve`: parses the options, starts the HTTP server (readiness 503 while the model
// loads), loads the model and the engine, serves until SIGTERM/SIGINT, then drains: readiness and
// new requests get 503, running requests get up to --shutdown-timeout to finish, the rest are
// cancelled, exit 0.
// Exit codes: 0 after a clean shutdown or --help; 2 for bad options; 1 when the model cannot be
// loaded or the port cannot be bound.
#pragma once

namespace gf::server {

// argv[0] = program, argv[1] = "serve".
int RunServe(int argc, char** argv);

}  // namespace gf::server

import type { Command } from "commander";
import type { RelayStartOptions } from "../../dataplane/main.ts";
import { addRelayStartOptions, runRelay } from "../../dataplane/main.ts";
import { commandGroup } from "../command-group.ts";

/** `flock relay start`: runs a data plane in the foreground until SIGTERM/SIGINT (then drains). */
export function registerRelayCommands(program: Command): void {
  const relay = commandGroup(program, "relay", "run a data plane");
  addRelayStartOptions(
    relay.command("start").description("run a data plane: pair parties and splice their bytes"),
  ).action((options: RelayStartOptions) => runRelay(options, process.env));
}

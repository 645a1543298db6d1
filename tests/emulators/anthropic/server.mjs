#!/usr/bin/env node
// server.mjs — runs the Anthropic emulator as a process (options in ../common/cli.mjs).
import { runEmulator } from '../common/cli.mjs';
import { startEmulator } from './emulator.mjs';

await runEmulator(startEmulator);

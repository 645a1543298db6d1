#!/usr/bin/env node
// server.mjs — runs the OpenAI emulator as a process (options in ../common/cli.mjs).
import { runEmulator } from '../common/cli.mjs';
import { startEmulator } from './emulator.mjs';

await runEmulator(startEmulator);

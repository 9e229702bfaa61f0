import type { EngineConfig } from "../../config/types.js";
import { EngineError } from "../../errors.js";
export class TorchEngine {
  constructor(_c: EngineConfig, _o: { runDir: string }) {
    throw new EngineError("the torch engine is being written");
  }
}

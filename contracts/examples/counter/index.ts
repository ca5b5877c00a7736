// The smallest contract: adds the input's Int (1 when there is none) to a stored counter,
// returns the new value and emits it as an event.
import { input, output, stateGetI64, stateSetInt, emit, Writer, STATUS_OK } from "../../sdk/index";

export function call(): i32 {
  const r = input();
  const step = r.atEnd() ? 1 : r.readInt();
  const next = stateGetI64("count", 0) + step;
  stateSetInt("count", next);
  emit("counter.incremented", new Writer().writeInt(next));
  output(new Writer().writeInt(next));
  return STATUS_OK;
}

import bcrypt from "bcrypt";
import os from "node:os";
import { parentPort, workerData } from "node:worker_threads";

/** One job of a hashing thread (see bcrypt-threads.ts). */
export type HashJob = { password: string } & ({ cost: number } | { hash: string });

// On Linux a nice value belongs to a thread: this lowers this thread's priority only, so that its
// hashes take the CPU the server's other work leaves.
try {
  os.setPriority(0, (workerData as { nice: number }).nice);
} catch {
  // A system that refuses (some sandboxes do) leaves the thread at the server's priority.
}

parentPort!.on("message", (job: HashJob) => {
  try {
    const result = "cost" in job ? bcrypt.hashSync(job.password, job.cost) : bcrypt.compareSync(job.password, job.hash);
    parentPort!.postMessage({ result });
  } catch (error) {
    parentPort!.postMessage({ error: (error as Error).message });
  }
});

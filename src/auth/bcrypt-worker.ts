import bcrypt from "bcrypt";

/** One job of a hashing thread (see bcrypt-threads.ts). */
export type HashJob = { password: string } & ({ cost: number } | { hash: string });

/** Runs in one of piscina's threads, whose priority piscina lowered (niceIncrement: BCRYPT_NICE). */
export default function hashJob(job: HashJob): string | boolean {
  return "cost" in job ? bcrypt.hashSync(job.password, job.cost) : bcrypt.compareSync(job.password, job.hash);
}

"""`make soak`: the pipeline under faults on loopback, measured against its promises.

moto's S3, SQS and Secrets Manager as real HTTP endpoints, the real Lambda handler under an
emulation of Lambda's asynchronous invocation (concurrent workers, retries, the on-failure
destination, timeouts), `face3d serve` behind a counting proxy, a few hundred subjects made from
real sample photos delivered at least once and out of order, and invocations killed at random
points. It prints what happened and whether each invariant of DESIGN.md sections 4 to 6 held.
"""

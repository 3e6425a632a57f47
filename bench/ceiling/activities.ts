/** No I/O: the ceiling workflow's activities cost only their Temporal round trips. */
export async function record(_id: string): Promise<void> {}

export async function notify(_id: string): Promise<void> {}

export async function prepare(_id: string): Promise<void> {}

export async function confirm(_id: string): Promise<void> {}

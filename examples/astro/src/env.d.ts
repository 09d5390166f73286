declare const __ISR_BUILD_ID__: string;

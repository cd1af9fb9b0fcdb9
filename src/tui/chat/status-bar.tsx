import { Box, Text } from 'ink';
import type { ChatInfo, ChatSettings } from '../../engine/chat.js';

export interface StatusBarProps {
  info: ChatInfo;
  settings: Readonly<ChatSettings>;
  contextUsed: number;
  tokensPerSec?: number;
  /** accepted ÷ drafted MTP drafts of the last answer, when it was drafted */
  mtpAcceptance?: number;
  generating: boolean;
  queued: number;
}

/**
 * One line under the input: model, context used/limit, speed, sampling, MTP drafting (with the last
 * answer's acceptance), adapter, and what Esc does now.
 */
export function StatusBar({ info, settings, contextUsed, tokensPerSec, mtpAcceptance, generating, queued }: StatusBarProps) {
  // 'greedy' drafts only while the temperature is 0
  const drafting = settings.mtp === 'greedy' ? settings.temperature === 0 : settings.mtp !== false;
  const parts = [
    shortModelName(info.model),
    `ctx ${contextUsed}/${info.contextLimit}`,
    tokensPerSec !== undefined ? `${tokensPerSec.toFixed(1)} tok/s` : '– tok/s',
    `temp ${settings.temperature}`,
    `think ${settings.think ? 'on' : 'off'}`,
    ...(info.mtpLayers > 0 ? [`mtp ${drafting ? 'on' : 'off'}${drafting && mtpAcceptance !== undefined ? ` (${Math.round(100 * mtpAcceptance)}% accepted)` : ''}`] : []),
    info.adapter,
  ];
  return (
    <Box width="100%">
      <Box flexShrink={1} flexGrow={1}>
        <Text inverse wrap="truncate-end">
          {' ' + parts.join(' │ ') + ' '}
        </Text>
      </Box>
      <Box flexShrink={0}>
        <Text color={generating ? 'yellow' : 'gray'}>
          {generating ? ` generating · Esc stops${queued ? ` · ${queued} queued` : ''}` : ' /help · Ctrl-D leaves'}
        </Text>
      </Box>
    </Box>
  );
}

/** A model given as a path shows as its last folder name. */
export function shortModelName(spec: string): string {
  return spec.split(/[\\/]/).filter((p) => p !== '').pop() ?? spec;
}

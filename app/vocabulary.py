"""The names the Genesys Cloud analytics API accepts, transcribed from
``shared/reference/genesys-api.md`` (§4.1, §4.2, §7).

Both the settings validation (so that ``check-config`` catches a typo at start-up) and the
sandbox (so that it answers a misspelt name with the 400 the real API gives) read these sets.
They are data, not behaviour: the two sides still interpret them independently.
"""

from __future__ import annotations

from typing import Final


def _names(text: str) -> frozenset[str]:
    return frozenset(part.strip() for part in text.split(",") if part.strip())


FILTER_TYPES: Final = frozenset({"and", "or"})
PREDICATE_TYPES: Final = frozenset({"dimension", "property", "metric"})
OPERATORS: Final = frozenset({"matches", "exists", "notExists"})
RANGE_KEYS: Final = frozenset({"gt", "gte", "lt", "lte"})
PROPERTY_TYPES: Final = frozenset({"bool", "integer", "real", "date", "string", "uuid"})
ORDERS: Final = frozenset({"asc", "desc", "unordered"})
ORDER_BY: Final = frozenset({"conversationStart", "conversationEnd", "segmentStart", "segmentEnd"})

# Top-level fields of ConversationQuery (§4.1). Anything else is not part of the real body.
QUERY_FIELDS: Final = frozenset(
    {
        "interval",
        "conversationFilters",
        "segmentFilters",
        "evaluationFilters",
        "surveyFilters",
        "resolutionFilters",
        "mediaEndpointStatFilters",
        "order",
        "orderBy",
        "paging",
        "aggregations",
    }
)
# AsyncConversationQuery (§5.1): the same filters, no paging and no aggregations.
JOB_QUERY_FIELDS: Final = (QUERY_FIELDS - {"paging", "aggregations"}) | {
    "limit",
    "startOfDayIntervalMatching",
}

CONVERSATION_DIMENSIONS: Final = _names(
    """accessAttribute, conversationEnd, conversationId, conversationInitiator, conversationStart,
    customerParticipation, divisionId, externalTag, mediaStatsMinConversationMos,
    originatingDirection, originatingSocialMediaPublic"""
)

CONVERSATION_METRICS: Final = _names(
    """nBlindTransferred, nBotInteractions, nCallbackAttempts, nCallbackOverSla,
    nCallbackScheduled, nCfcOffered, nCobrowseSessions, nConnected, nConsult,
    nConsultTransferred, nConversations, nError, nFlow, nFlowMilestone, nFlowOutcome,
    nFlowOutcomeFailed, nOffered, nOutbound, nOutboundAbandoned, nOutboundAttempted,
    nOutboundConnected, nOverSla, nStateTransitionError, nTakeover, nTransferred,
    oAudioMessageCount, oExternalAudioMessageCount, oExternalMediaCount, oFlowMilestone,
    oMediaCount, oMessageCount, oMessageSegmentCount, oMessageTurn,
    oSkillExpressionApplications, tAbandon, tAcd, tActiveCallback, tActiveCallbackComplete,
    tAcw, tAgentResponseTime, tAgentVideoConnected, tAlert, tAnswered,
    tAverageAgentResponseTime, tAverageCustomerResponseTime, tBarging, tCallbackAbandon,
    tCallbackConnect, tCallbackNotReached, tCallbackVirtualWait, tCfcAbandon, tCfcAcd,
    tCfcAnswered, tCfcFlowOut, tCoaching, tCoachingComplete, tConnected, tContacting,
    tConversationDuration, tDialing, tFirstConnect, tFirstDial, tFirstEngagement,
    tFirstResponse, tFlow, tFlowDisconnect, tFlowExit, tFlowOut, tFlowOutcome, tHandle, tHeld,
    tHeldComplete, tIvr, tMonitoring, tMonitoringComplete, tNotResponding, tPark,
    tParkComplete, tScreenMonitoring, tShortAbandon, tSnippetRecord, tTalk, tTalkComplete,
    tTransmitting, tUserResponseTime, tVoicemail"""
)

SEGMENT_DIMENSIONS: Final = _names(
    """addressFrom, addressTo, agentAssistantId, agentOwned, ani, authenticated,
    bargedParticipantId, callbackNumber, callbackScheduledTime, canonicalExternalContactId,
    cleared, coachedParticipantId, conference, deliveryPushed, deliveryStatus,
    destinationAddress, destinationConversationId, detectedSpeechEnd, detectedSpeechStart,
    direction, disconnectType, dnis, edgeId, engagementSource, errorCode, exitReason,
    extendedDeliveryStatus, externalContactId, externalOrganizationId, flaggedReason, flowId,
    flowName, flowOutType, flowOutcome, flowOutcomeId, flowOutcomeValue, flowVersion, groupId,
    journeyActionId, journeyActionMapId, journeyCustomerId, journeyCustomerIdType,
    journeyCustomerSessionId, mediaCount, mediaType, messageType, monitoredParticipantId,
    outboundCampaignId, outboundContactId, outboundContactListId, participantName,
    protocolCallId, provider, purpose, queueId, recording, remote, remoteNameDisplayable,
    requestedLanguageId, requestedRouting, requestedRoutingSkillId, scoredAgentId,
    screenMonitoredUserId, screenRecording, scriptId, segmentEnd, segmentType, sessionDnis,
    sipResponseCode, skillExpressionId, snippetRecording, subject, teamId,
    transferTargetAddress, transferTargetName, transferType, usedRouting, userId, wrapUpCode,
    wrapUpNote"""
)
SEGMENT_METRICS: Final = frozenset({"tSegmentDuration"})

EVALUATION_DIMENSIONS: Final = _names(
    """assigneeApplicable, assigneeId, calibrationId, contextId, deleted, evaluationId,
    evaluationStatus, evaluatorId, eventTime, formId, formName, queueId, released, rescored,
    systemSubmitted, userId"""
)
EVALUATION_METRICS: Final = frozenset({"oTotalCriticalScore", "oTotalScore"})
SURVEY_DIMENSIONS: Final = _names(
    """eventTime, queueId, surveyCompletedDate, surveyFormContextId, surveyFormId, surveyId,
    surveyPartialResponse, surveyPromoterScore, surveyStatus, surveyType, userId"""
)
SURVEY_METRICS: Final = frozenset({"oSurveyTotalScore"})
RESOLUTION_METRICS: Final = frozenset({"nNextContactAvoided"})

# (dimensions, metrics, properties allowed) per filter family of the body.
FILTER_FAMILIES: Final[dict[str, tuple[frozenset[str], frozenset[str], bool]]] = {
    "conversationFilters": (CONVERSATION_DIMENSIONS, CONVERSATION_METRICS, False),
    "segmentFilters": (SEGMENT_DIMENSIONS, SEGMENT_METRICS, True),
    "evaluationFilters": (EVALUATION_DIMENSIONS, EVALUATION_METRICS, False),
    "surveyFilters": (SURVEY_DIMENSIONS, SURVEY_METRICS, False),
    "resolutionFilters": (frozenset(), RESOLUTION_METRICS, False),
}

# Enumerated values of some dimensions (§7), so "matches" against a misspelt value is caught.
MEDIA_TYPES: Final = _names(
    """callback, chat, cobrowse, email, internalmessage, message, screenmonitoring, screenshare,
    unknown, video, voice"""
)
DIRECTIONS: Final = frozenset({"inbound", "outbound"})
PURPOSES: Final = _names(
    """acd, agent, api, botflow, campaign, customer, dialer, external, fax, group, inbound, ivr,
    manual, outbound, station, user, voicemail, voicesurveyflow, workflow"""
)
SEGMENT_TYPES: Final = _names(
    """alert, barging, callback, coaching, contacting, converting, delay, dialing, hold,
    interact, ivr, monitoring, parked, scheduled, screenmonitoring, sharing, system,
    transmitting, unknown, uploading, voicemail, wrapup"""
)
DISCONNECT_TYPES: Final = _names(
    """client, conferenceTransfer, consultTransfer, dndEndpoint, dndTransfer, endpoint, error,
    forwardTransfer, inactivity, noAnswerTransfer, notAvailableTransfer, other, peer,
    sessionExpired, spam, system, takeover, timeout, transfer, transportFailure, uncallable"""
)
ENUM_DIMENSIONS: Final[dict[str, frozenset[str]]] = {
    "mediaType": MEDIA_TYPES,
    "direction": DIRECTIONS,
    "originatingDirection": DIRECTIONS,
    "purpose": PURPOSES,
    "conversationInitiator": PURPOSES,
    "segmentType": SEGMENT_TYPES,
    "disconnectType": DISCONNECT_TYPES,
}
JOB_STATES: Final = frozenset({"QUEUED", "PENDING", "FAILED", "CANCELLED", "FULFILLED", "EXPIRED"})

# ConversationAggregationQuery (§6.1): its fields, metrics and groupBy/filter dimensions.
AGGREGATE_QUERY_FIELDS: Final = _names(
    """interval, granularity, timeZone, groupBy, filter, metrics, flattenMultivaluedDimensions,
    views, alternateTimeDimension, queryType"""
)
AGGREGATE_METRICS: Final = _names(
    """nBlindTransferred, nBotInteractions, nCallbackAttempts, nCallbackOverSla,
    nCallbackScheduled, nCfcOffered, nCobrowseSessions, nConnected, nConsult,
    nConsultTransferred, nConversations, nError, nOffered, nOutbound, nOutboundAbandoned,
    nOutboundAttempted, nOutboundConnected, nOverSla, nStateTransitionError, nTakeover,
    nTransferred, oAudioMessageCount, oCallbackServiceLevel, oExternalAudioMessageCount,
    oExternalMediaCount, oMediaCount, oMessageCount, oMessageSegmentCount, oMessageTurn,
    oServiceLevel, oServiceTarget, oSkillExpressionApplications, tAbandon, tAcd,
    tActiveCallback, tActiveCallbackComplete, tAcw, tAgentResponseTime, tAgentVideoConnected,
    tAlert, tAnswered, tAverageAgentResponseTime, tAverageCustomerResponseTime, tBarging,
    tCallbackAbandon, tCallbackConnect, tCallbackNotReached, tCallbackVirtualWait, tCfcAbandon,
    tCfcAcd, tCfcAnswered, tCfcFlowOut, tCoaching, tCoachingComplete, tConnected, tContacting,
    tDialing, tFirstConnect, tFirstDial, tFirstEngagement, tFirstResponse, tFlowOut, tHandle,
    tHeld, tHeldComplete, tIvr, tMonitoring, tMonitoringComplete, tNotResponding, tPark,
    tParkComplete, tScreenMonitoring, tShortAbandon, tSnippetRecord, tTalk, tTalkComplete,
    tTransmitting, tUserResponseTime, tVoicemail, tWait"""
)
AGGREGATE_DIMENSIONS: Final = _names(
    """activeRouting, activeSkillId, addressFrom, addressTo, agentAssistantId, agentBullseyeRing,
    agentOwned, agentRank, agentScore, ani, assignerId, authenticated, conversationId,
    conversationInitiator, convertedFrom, convertedTo, customerParticipation, deliveryStatus,
    destinationAddress, direction, disconnectType, divisionId, dnis, edgeId, eligibleAgentCount,
    errorCode, extendedDeliveryStatus, externalContactId, externalMediaCount,
    externalOrganizationId, externalTag, firstQueue, flaggedReason, flowInType, flowOutType,
    groupId, interactionType, journeyActionId, journeyActionMapId, journeyActionMapVersion,
    journeyCustomerId, journeyCustomerIdType, journeyCustomerSessionId,
    journeyCustomerSessionIdType, knowledgeBaseId, mediaCount, mediaType, messageType,
    originatingDirection, originatingSocialMediaPublic, outboundCampaignId, outboundContactId,
    outboundContactListId, participantName, peerId, proposedAgentId, provider, purpose, queueId,
    remote, removedSkillId, requestedLanguageId, requestedRouting, requestedRoutingSkillId,
    roomId, routingPriority, routingRing, routingRule, routingRuleType, scoredAgentId,
    selectedAgentId, selectedAgentRank, selfServed, sessionDnis, sessionId, skillExpressionId,
    stationId, teamId, usedRouting, userId, videoPresent, waitingInteractionCount, wrapUpCode"""
)
